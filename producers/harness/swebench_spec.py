"""The official harness's test spec of an instance (`swebench` 5.x, the `.[swebench]` extra).

SWE-bench 5 rows carry the harness's own columns: `eval_script` (install,
test-file reset, test patch, the test command with its directives between the
start/end markers), `log_parser` (a name in `PARSER_REGISTRY`), `eval_type` and
`image`. An instance whose row has an eval script and a parser the installed
harness knows is judged by it; `swebench.harness.utils.make_test_spec` builds the
spec from the row exactly as `run_evaluation` does. Nothing of the harness's
tables, scripts or parsers is copied here.
"""
from __future__ import annotations

from typing import Any

__all__ = ["knows", "wants", "missing_reason", "test_spec", "harness_version", "image_name", "SwebenchMissing"]


class SwebenchMissing(RuntimeError):
    """The row needs the official harness and the `swebench` package is not installed."""


def _installed() -> bool:
    try:
        import swebench  # noqa: F401
    except ImportError:
        return False
    return True


def wants(instance: Any) -> bool:
    """The row is meant for the official harness (it carries an eval script)."""
    return bool(getattr(instance, "eval_script", "") or "")


def missing_reason(instance: Any) -> str:
    """Why the official harness cannot judge a row that is meant for it ("" when it can)."""
    if not wants(instance):
        return "the row has no eval_script"
    if not _installed():
        return "the row needs the official SWE-bench harness: pip install 'swe-ledger[swebench]'"
    from swebench.harness.log_parsers import PARSER_REGISTRY

    parser = getattr(instance, "log_parser", "") or ""
    if parser not in PARSER_REGISTRY:
        return f"log_parser {parser!r} is not one of the installed harness's parsers"
    return ""


def knows(instance: Any) -> bool:
    return wants(instance) and not missing_reason(instance)


def image_name(instance: Any) -> str:
    """The row's image, else the harness's naming for an instance image
    (`swebench.image_builder.ImageSpec.name`: sweb.eval.x86_64.<id>:latest)."""
    image = getattr(instance, "image", "") or ""
    if image:
        return image
    from swebench.image_builder.image_spec import ImageSpec

    return ImageSpec(instance_id=instance.instance_id, dockerfile="(not built here)", namespace=None).name


def test_spec(instance: Any):
    """`make_test_spec` of the row (a `swebench.types.TestSpec`)."""
    if not _installed():
        raise SwebenchMissing(missing_reason(instance))
    from swebench.harness.utils import make_test_spec

    row = {"instance_id": instance.instance_id, "repo": instance.repo,
           "version": getattr(instance, "version", "") or "", "image": image_name(instance),
           "FAIL_TO_PASS": list(instance.FAIL_TO_PASS), "PASS_TO_PASS": list(instance.PASS_TO_PASS),
           "log_parser": instance.log_parser, "eval_type": instance.eval_type or "pass_and_fail",
           "eval_script": instance.eval_script}
    return make_test_spec(row)


def harness_version() -> str:
    import swebench

    return f"swebench-{swebench.__version__}"
