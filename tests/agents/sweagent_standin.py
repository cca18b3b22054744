#!/usr/bin/env python
"""A small stand-in for `sweagent run --config FILE...`: reads SWE-agent's config layout,
talks OpenAI to `agent.model.api_base`, runs each ```bash block in `env.repo.path`,
and writes SWE-agent's outputs (<id>.traj, <id>.pred, <id>.patch) under output_dir/<id>/.

Also: `STANDIN_SLEEP=S` sleeps S seconds first (timeout tests).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import openai
import yaml

BLOCK = re.compile(r"^```bash[ \t]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
SENTINEL = "COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"


def load(argv: list[str]) -> dict:
    assert argv[0] == "run", f"expected `run`, got {argv[:1]}"
    config: dict = {}
    for i, arg in enumerate(argv):
        if arg == "--config":
            for key, value in yaml.safe_load(Path(argv[i + 1]).read_text()).items():
                config[key] = value if not isinstance(value, dict) else {**config.get(key, {}), **value}
    return config


def main() -> int:
    time.sleep(float(os.environ.get("STANDIN_SLEEP", "0")))
    cfg = load(sys.argv[1:])
    model, repo = cfg["agent"]["model"], Path(cfg["env"]["repo"]["path"])
    key = model["api_key"]
    key = os.environ[key[1:]] if key.startswith("$") else key
    client = openai.OpenAI(base_url=model["api_base"], api_key=key, max_retries=0)
    pid = cfg["problem_statement"]["id"]
    out = Path(cfg["output_dir"]) / pid
    out.mkdir(parents=True, exist_ok=True)
    messages = [{"role": "system", "content": "Solve the issue with one ```bash block per reply."},
                {"role": "user", "content": cfg["problem_statement"]["text"]}]
    trajectory, status, calls = [], "exit_cost", 0
    while calls < model["per_instance_call_limit"]:
        calls += 1
        reply = client.chat.completions.create(
            model=model["name"].removeprefix("openai/"), messages=messages,
            temperature=model["temperature"], top_p=model["top_p"], **model["completion_kwargs"])
        text = reply.choices[0].message.content or ""
        messages.append({"role": "assistant", "content": text})
        blocks = BLOCK.findall(text)
        if len(blocks) != 1:
            messages.append({"role": "user", "content": "exactly one ```bash block, please"})
            continue
        t0 = time.monotonic()
        proc = subprocess.run(["bash", "-c", blocks[0]], cwd=repo, capture_output=True, text=True,
                              timeout=cfg["agent"]["tools"]["execution_timeout"])
        obs = proc.stdout + proc.stderr
        trajectory.append({"action": blocks[0].strip(), "observation": obs, "response": text,
                           "execution_time": time.monotonic() - t0, "exit_code": proc.returncode})
        if obs.lstrip().startswith(SENTINEL):
            status = "submitted"
            break
        messages.append({"role": "user", "content": obs})
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    patch = subprocess.run(["git", "diff", "--cached", cfg["env"]["repo"]["base_commit"]], cwd=repo,
                           capture_output=True, text=True, check=True).stdout
    info = {"exit_status": status, "submission": patch, "model_stats": {"api_calls": calls}}
    (out / f"{pid}.traj").write_text(json.dumps({"trajectory": trajectory, "info": info}))
    (out / f"{pid}.pred").write_text(json.dumps(
        {"model_name_or_path": model["name"], "instance_id": pid, "model_patch": patch}))
    (out / f"{pid}.patch").write_text(patch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
