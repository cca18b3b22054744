"""The bash agent's prompts: problem statement, instance id, workflow memory, format rules.

The instance id is spelled out in the system prompt: the `demo` upstream
recognises its task by it.
"""
from __future__ import annotations

from .base import EpisodeContext
from .response_format import SUBMIT_COMMAND

__all__ = ["SYSTEM_TEMPLATE", "INSTANCE_TEMPLATE", "render_system", "render_instance"]

SYSTEM_TEMPLATE = """\
You are a software engineer. You fix issues in a git repository by running bash commands.

<instance_id>{instance_id}</instance_id>
<repository>{repo} checked out at {workdir}</repository>

<problem_statement>
{problem_statement}
</problem_statement>
{memory_block}
## Response format
- Reply with a short explanation and EXACTLY ONE fenced block:
  ```bash
  <one command, or several joined with && or ;>
  ```
- The command runs in a fresh bash shell in the repository root; `cd` and variables do not
  persist between commands. Each command may run for at most {execution_timeout:g} seconds.
- Edit files with sed, cat <<'EOF' > file, or python. Do not modify the tests.
- When the fix is complete, submit by replying with a block containing only
  `{submit}`. You cannot act after submitting.
"""

MEMORY_TEMPLATE = """
<workflow_memory>
Workflows that solved similar tasks before (use them when they fit):
{memory}
</workflow_memory>
"""

INSTANCE_TEMPLATE = """\
Resolve the problem statement of instance {instance_id}. Start by exploring the repository;
make the smallest change that fixes the issue, check it, then submit with `{submit}`."""


def render_system(ctx: EpisodeContext, workdir: str) -> str:
    inst = ctx.instance
    memory = ctx.workflow_memory.strip()
    return SYSTEM_TEMPLATE.format(
        instance_id=inst.instance_id, repo=getattr(inst, "repo", "") or "the repository",
        workdir=workdir, problem_statement=inst.problem_statement.strip(),
        memory_block=MEMORY_TEMPLATE.format(memory=memory) if memory else "",
        execution_timeout=ctx.limits.execution_timeout, submit=SUBMIT_COMMAND)


def render_instance(ctx: EpisodeContext) -> str:
    return INSTANCE_TEMPLATE.format(instance_id=ctx.instance.instance_id, submit=SUBMIT_COMMAND)
