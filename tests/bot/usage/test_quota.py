"""The daily_gpu_minutes setting: a base for everyone, roles that override it, the most generous role winning."""

import pytest

from bot.usage.quota import Quota, QuotaError


def test_roles_override_the_base_and_the_most_generous_role_wins():
    quota = Quota.parse("30, <@&200> 120, <@&300> 60, <@&400> none")
    assert quota.for_member(set()) == 30 and quota.for_member({999}) == 30
    assert quota.for_member({300}) == 60, "a role's quota holds even when below the base"
    assert quota.for_member({200, 300}) == 120 and quota.for_member({300, 400}) is None
    assert Quota.parse("none").for_member({200}) is None
    assert Quota.parse("none, <@&200> 5").for_member({200}) == 5 and Quota.parse("none, <@&200> 5").for_member(set()) is None


def test_the_text_is_kept_canonical_and_reads_back_the_same():
    quota = Quota.parse(" 7.50 , 12345 120,<@&300> NONE ")
    assert str(quota) == "7.5, <@&12345> 120, <@&300> none"
    assert Quota.parse(str(quota)) == quota
    assert Quota.parse("30, <@&200> 10, <@&200> 20").roles == ((200, 20.0),), "a role named twice: the last"


@pytest.mark.parametrize("text", ["", "x", "30, vip", "30,, <@&200> 1", "-5", "inf", "30, <@&200> 1e9"])
def test_anything_else_is_refused_in_words(text):
    with pytest.raises(QuotaError):
        Quota.parse(text)
