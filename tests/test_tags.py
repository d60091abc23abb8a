"""The tag grammar: Step-Audio names, aliases, full-width parentheses, chains, intensities, errors."""

import pytest

from steptts.errors import TagError
from steptts.tags import TAG_SPECS, all_tag_keys, parse_tags, resolve_tag


def keys(text):
    tags, rest = parse_tags(text)
    return [t.key for t in tags], rest


def test_step_audio_names_and_aliases_resolve_to_the_same_key():
    assert resolve_tag("高兴").key == resolve_tag("happy").key == "高兴1"
    assert resolve_tag("happy2").key == resolve_tag("高兴2").key == "高兴2"
    assert resolve_tag("Cantonese").key == resolve_tag("粤语").key == resolve_tag("广东话").key == "粤语"
    assert resolve_tag("rap").key == "RAP"
    assert resolve_tag("singing").key == resolve_tag("humming").key == "哼唱"
    assert resolve_tag("slow").key == "慢速1" and resolve_tag("faster").key == "快速2"
    assert resolve_tag("HAPPY").key == "高兴1"  # aliases are case-insensitive


def test_full_width_and_chained_tags():
    assert keys("（粤语）（高兴1）你好") == (["粤语", "高兴1"], "你好")
    assert keys("(Cantonese)(happy2) hello") == (["粤语", "高兴2"], "hello")
    assert keys("(British)（慢速2）Good morning.") == (["British", "慢速2"], "Good morning.")


def test_mid_text_parentheses_are_spoken_as_text():
    assert keys("Hello (happy) world") == ([], "Hello (happy) world")
    assert keys("(sad)It was (sadly) over.") == (["悲伤1"], "It was (sadly) over.")


def test_unknown_tag_names_it_and_lists_valid_tags():
    with pytest.raises(TagError) as error:
        parse_tags("(nonsense-tag)hi")
    message = str(error.value)
    assert "nonsense-tag" in message and "高兴" in message and "happy" in message
    assert "\n" not in message


@pytest.mark.parametrize("text", ["(happy hi", "（高兴hello", "(happy(sad))hi"])
def test_unbalanced_or_nested_tags_are_errors(text):
    with pytest.raises(TagError, match="unbalanced"):
        parse_tags(text)


def test_intensity_outside_one_and_two_is_refused():
    with pytest.raises(TagError, match="intensity"):
        parse_tags("(高兴5)hi")


def test_conflicting_tags_are_refused_but_repeats_are_fine():
    with pytest.raises(TagError, match="conflicting"):
        parse_tags("(happy)(sad)hi")
    with pytest.raises(TagError, match="conflicting"):
        parse_tags("(slow)(fast)hi")
    assert keys("(happy)(happy1)hi")[0] == ["高兴1", "高兴1"]


def test_empty_group_is_an_error():
    with pytest.raises(TagError):
        parse_tags("()hi")


def test_table_covers_step_audio_set():
    names = {spec.canonical for spec in TAG_SPECS}
    for name in ["高兴", "生气", "悲伤", "撒娇", "慢速1", "慢速2", "快速1", "快速2", "哼唱", "RAP",
                 "中文", "英文", "日语", "韩语", "四川话", "粤语"]:
        assert name in names
    assert "高兴2" in all_tag_keys() and "British" in all_tag_keys()
