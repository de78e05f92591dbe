"""The Python suites' pass/fail counting: check() and expect_raises(), and
the summary line ctest reads ("N passed, M failed")."""
import sys

counts = {"passed": 0, "failed": 0}


def check(cond, msg):
    if cond:
        counts["passed"] += 1
    else:
        counts["failed"] += 1
        print("FAIL:", msg)


def expect_raises(exc, needle, fn, *a, **kw):
    """fn(*a, **kw) must raise exc whose text names needle; returns the exception."""
    try:
        fn(*a, **kw)
    except exc as e:
        check(needle in str(e), f"{exc.__name__} message {str(e)!r} does not name {needle!r}")
        return e
    except Exception as e:  # noqa: BLE001
        check(False, f"expected {exc.__name__} ({needle}), got {type(e).__name__}: {e}")
        return None
    check(False, f"expected {exc.__name__} ({needle}), nothing raised")
    return None


def finish(suite):
    print(f"{suite}: {counts['passed']} passed, {counts['failed']} failed")
    sys.exit(1 if counts["failed"] else 0)
