"""Arguments a function cannot take raise TypeError at ``.remote()``, as Ray's do."""
from __future__ import annotations

import pytest


def one(x):
    return x


def flexible(a, b=2, *rest, key=None, **extra):
    return a, b, rest, key, extra


class Account:
    def __init__(self, owner, balance=0):
        self.owner = owner
        self.balance = balance

    def deposit(self, amount, *, note=""):
        self.balance += amount
        return self.balance

    @staticmethod
    def rate(years):
        return 0.01 * years

    @classmethod
    def bank(cls, country):
        return f"{cls.__name__} of {country}"


@pytest.mark.parametrize("call, message", [
    (lambda rt: rt.remote(one).remote(1, 2), "too many positional arguments"),
    (lambda rt: rt.remote(one).remote(), "missing a required argument: 'x'"),
    (lambda rt: rt.remote(one).remote(y=1), "missing a required argument: 'x'"),
    (lambda rt: rt.remote(flexible).remote(b=1), "missing a required argument: 'a'"),
    (lambda rt: rt.remote(Account).remote(), "missing a required argument: 'owner'"),
    (lambda rt: rt.remote(Account).remote("ann", 1, 2), "too many positional arguments"),
    (lambda rt: rt.remote(Account).remote("ann").deposit.remote(),
     "missing a required argument: 'amount'"),
    (lambda rt: rt.remote(Account).remote("ann").deposit.remote(1, "memo"),
     "too many positional arguments"),
    (lambda rt: rt.remote(Account).remote("ann").deposit.remote(1, typo="memo"),
     "unexpected keyword argument 'typo'"),
    (lambda rt: rt.remote(Account).remote("ann").rate.remote(), "missing a required argument"),
    (lambda rt: rt.remote(Account).remote("ann").bank.remote(1, 2),
     "too many positional arguments"),
], ids=["task_extra", "task_missing", "task_unknown_keyword", "task_defaults", "ctor_missing",
        "ctor_extra", "method_missing", "method_keyword_only", "method_unknown_keyword",
        "staticmethod", "classmethod"])
def test_arguments_a_function_cannot_take_raise_type_error_at_remote(rt, call, message):
    # Ray checks them against the signature as .remote() is called; before, the task ran and
    # get raised TaskError(TypeError), and a constructor's made every call of its actor raise
    # ActorDiedError
    with pytest.raises(TypeError, match=message):
        call(rt)


def test_arguments_a_function_can_take_pass(rt):
    f = rt.remote(flexible)
    assert rt.get(f.remote(1), timeout=60) == (1, 2, (), None, {})
    assert rt.get(f.remote(1, 3, 4, 5, key="k", other=6), timeout=60) == (
        1, 3, (4, 5), "k", {"other": 6})
    a = rt.remote(Account).remote(owner="ann", balance=5)
    assert rt.get(a.deposit.remote(amount=2, note="n"), timeout=60) == 7
    assert rt.get(a.rate.remote(2), timeout=60) == 0.02
    assert rt.get(a.bank.remote("x"), timeout=60) == "Account of x"
    assert rt.get(rt.remote(one).remote(rt.put(3)), timeout=60) == 3
