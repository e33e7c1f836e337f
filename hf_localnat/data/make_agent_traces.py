"""Write the two small agent-trace fixtures in the Hub's two shapes (SPEC §14), deterministically, without network.

- ``agent_traces_openai.jsonl``: OpenAI ``messages`` + ``tools`` (SWE-agent / OpenHands style): 4 tasks x 3 teachers,
  assistant ``tool_calls`` (``arguments`` as a JSON string, and once as an object), ``role: tool`` results with
  errors, one teacher that loops on the same call, one trace that ends on a tool call, an assistant turn that starts
  with a newline; columns ``instance_id``, ``model`` (the teacher), ``resolved``.
- ``agent_traces_sharegpt.jsonl``: ShareGPT ``conversations`` with ``observation`` turns (Terminus / AgentInstruct
  style): 4 tasks x 2 teachers, commands in the text; columns ``task_id``, ``teacher``.
- ``agent_traces_truth.json``: a made-up value per OpenAI teacher (as a post-SFT accuracy would be), for the worked
  example of ``docs/agent-traces.md``. It is invented; it shows the file's format, not a finding.

All text is hand-written and synthetic (no real model output).

Usage::

    python -m hf_localnat.data.make_agent_traces            # rewrite the files next to this module
    python -m hf_localnat.data.make_agent_traces --check    # verify the files on disk are up to date
    python -m hf_localnat.data.make_agent_traces --out DIR  # write them into DIR (e.g. `.` to try them)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
OPENAI_PATH = HERE / "agent_traces_openai.jsonl"
SHAREGPT_PATH = HERE / "agent_traces_sharegpt.jsonl"
TRUTH_PATH = HERE / "agent_traces_truth.json"

SYSTEM = "You are a software engineer working in a repository. Use the tools to inspect and edit files, then finish."
TOOLS = [
    {"type": "function", "function": {
        "name": "bash", "description": "Run a shell command in the repository.",
        "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}},
    {"type": "function", "function": {
        "name": "edit", "description": "Replace text in a file.",
        "parameters": {"type": "object", "properties": {
            "path": {"type": "string"}, "old": {"type": "string"}, "new": {"type": "string"}},
            "required": ["path", "old", "new"]}}},
]
TASKS = {
    "calc__add-1": ("`add(2, 3)` in calc/ops.py returns -1 instead of 5. Fix it.", "calc/ops.py",
                    "return a - b", "return a + b"),
    "text__title-2": ("`title_case('hello world')` returns 'Hello world'; every word should be capitalised.",
                      "text/case.py", "return s.capitalize()", "return s.title()"),
    "io__newline-3": ("`read_lines` keeps the trailing newline of every line. Strip it.", "io/read.py",
                      "return f.readlines()", "return f.read().splitlines()"),
    "math__mean-4": ("`mean([])` raises ZeroDivisionError; it should return None for an empty list.",
                     "math/stats.py", "return sum(xs) / len(xs)", "return sum(xs) / len(xs) if xs else None"),
}
TRACEBACK = ("Traceback (most recent call last):\n  File \"test.py\", line 3, in <module>\n    assert {call}\n"
             "AssertionError")


def _call(name: str, arguments: dict, *, as_object: bool = False) -> dict:
    args = arguments if as_object else json.dumps(arguments)
    return {"type": "function", "function": {"name": name, "arguments": args}}


def _assistant(content: str, *calls: dict) -> dict:
    turn = {"role": "assistant", "content": content}
    if calls:
        turn["tool_calls"] = list(calls)
    return turn


def _tool(content: str) -> dict:
    return {"role": "tool", "content": content}


def _careful(task: str, path: str, old: str, new: str, index: int) -> tuple[list[dict], bool]:
    test = f"python -m pytest tests -q -k {path.split('/')[0]}"
    turns = [
        _assistant("I will look at the file first.", _call("bash", {"command": f"cat {path}"})),
        _tool(f"def f(a, b):\n    {old}\n"),
        _assistant(f"The body is `{old}`; it should be `{new}`.",
                   _call("edit", {"path": path, "old": old, "new": new}, as_object=index == 0)),
        _tool(f"Edited {path}."),
        _assistant("Now I run the tests.", _call("bash", {"command": test})),
        _tool("4 passed in 0.02s"),
        _assistant(f"\nThe fix replaces `{old}` with `{new}` in {path}, and the tests pass."),
    ]
    return turns, True


def _looping(task: str, path: str, old: str, new: str, index: int) -> tuple[list[dict], bool]:
    look = _call("bash", {"command": f"grep -n def {path}"})
    turns = [_assistant("Let me search for the function.", look), _tool(f"1:def f(a, b):")]
    for _ in range(3):  # the same turn again: a loop
        turns += [_assistant("Let me search for the function.", look), _tool("1:def f(a, b):")]
    turns += [
        _assistant("I will edit it.", _call("edit", {"path": path, "old": old, "new": new})),
        _tool("Error: old text not found in " + path if index % 2 else f"Edited {path}."),
    ]
    if index == 3:  # the trace ends on a tool call
        turns.append(_assistant("", _call("bash", {"command": "python -m pytest -q"})))
        return turns, False
    turns.append(_assistant("I made the edit." if index % 2 == 0 else "The edit failed; I stop here."))
    return turns, index % 2 == 0


def _sloppy(task: str, path: str, old: str, new: str, index: int) -> tuple[list[dict], bool]:
    turns = [
        _assistant("run it", _call("bash", {"command": f"pyhton {path}"})),
        _tool("bash: pyhton: command not found"),
        _assistant("run again", _call("bash", {"command": f"python {path}"})),
        _tool(TRACEBACK.format(call=f"f(2, 3) == 5")),
        _assistant("edit", _call("edit", {"path": path, "old": old, "new": new})),
        _tool(f"Edited {path}."),
        _assistant("done"),
    ]
    return turns, index != 1


TEACHERS = {"teacher-careful": _careful, "teacher-looping": _looping, "teacher-sloppy": _sloppy}


def openai_rows() -> list[dict]:
    """The OpenAI-shape rows: every (task, teacher), task by task."""
    rows = []
    for index, (instance, (task, path, old, new)) in enumerate(TASKS.items()):
        for teacher, write in TEACHERS.items():
            turns, resolved = write(task, path, old, new, index)
            messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": task}, *turns]
            rows.append({"instance_id": instance, "model": teacher, "resolved": resolved, "messages": messages,
                         "tools": TOOLS})
    return rows


def sharegpt_rows() -> list[dict]:
    """The ShareGPT-shape rows: Terminus-style commands in the text, `observation` turns with the terminal output."""
    rows = []
    for index, (instance, (task, path, old, new)) in enumerate(TASKS.items()):
        listing = "\n".join(f"-rw-r--r-- 1 dev dev {120 + 7 * i:4d} Jan  1 00:00 file_{i:02d}.py" for i in range(40))
        steady = [
            {"from": "human", "value": f"Task: {task}\nYou are at a terminal in /repo."},
            {"from": "gpt", "value": f"First I list the files.\n```bash\nls -l {path.split('/')[0]}\n```"},
            {"from": "observation", "value": listing},
            {"from": "gpt", "value": f"Now I fix the line.\n```bash\nsed -i 's/{old}/{new}/' {path}\n```"},
            {"from": "observation", "value": ""},
            {"from": "gpt", "value": "The line is fixed; the task is complete."},
        ]
        hasty = [
            {"from": "human", "value": f"Task: {task}\nYou are at a terminal in /repo."},
            {"from": "gpt", "value": f"```bash\ncat {path} | pyton -\n```"},
            {"from": "observation", "value": "bash: pyton: command not found\nexit code: 127"},
            {"from": "gpt", "value": f"```bash\nsed -i 's/{old}/{new}/' {path}\n```"},
            {"from": "observation", "value": f"sed: can't read {path}: No such file or directory" if index % 2 else ""},
            {"from": "gpt", "value": "done."},
        ]
        rows.append({"task_id": instance, "teacher": "terminal-steady", "conversations": steady})
        rows.append({"task_id": instance, "teacher": "terminal-hasty", "conversations": hasty})
    return rows


TRUTH = {"teacher-careful": 0.41, "teacher-looping": 0.22, "teacher-sloppy": 0.30}


def _texts() -> dict[Path, str]:
    lines = lambda rows: "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)  # noqa: E731
    return {OPENAI_PATH: lines(openai_rows()), SHAREGPT_PATH: lines(sharegpt_rows()),
            TRUTH_PATH: json.dumps(TRUTH, indent=2) + "\n"}


def write_fixtures(folder: Path | None = None) -> list[Path]:
    """Write the three files into `folder` (default: next to this module); return their paths."""
    written = []
    for path, text in _texts().items():
        target = (folder / path.name) if folder is not None else path
        target.write_text(text)
        written.append(target)
    return written


def main(argv: list[str]) -> int:
    if "--out" in argv:
        folder = Path(argv[argv.index("--out") + 1])
        folder.mkdir(parents=True, exist_ok=True)
        for path in write_fixtures(folder):
            print(f"wrote {path}")
        return 0
    if "--check" in argv:
        stale = [p.name for p, text in _texts().items() if not p.exists() or p.read_text() != text]
        print("stale: " + ", ".join(stale) if stale else "up to date")
        return 1 if stale else 0
    for path in write_fixtures():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
