"""The runtime never imports secretscope.diagnostics (issue 17): what a user's `import secretscope`,
`@secret`, `do()`, `with secret():`, `protection()` and the secrets at rest load carries no
diagnostic code.  Checked twice: by running every public entry point in a fresh interpreter, and
by reading every runtime module's imports (a lazy import on a rare path is caught too)."""
from __future__ import annotations

import ast
import json
from pathlib import Path

from tests._support.environment import ROOT, run_python

PACKAGE = ROOT / "secretscope"
# The diagnostics and `python -m secretscope`'s argument parsing, which dispatches into them.
NOT_RUNTIME = {PACKAGE / "__main__.py"}

USER_CODE = r'''
import json, sys, threading
from secretscope import SecretBuffer, enabled, harden, inherit, protection, secret, wipe
from tests._support.scope_kinds import ATTEMPTS

def block():
    with secret():
        t = threading.Thread(target=enabled)  # inherited into a scope
        t.start()
        t.join()

for attempt in ATTEMPTS.values():
    attempt()
block()
p = protection(); inherit(inherit(True)); str(p); p.complete
with SecretBuffer(16) as buf:
    buf[:4] = b"abcd"
data = bytearray(b"secret"); wipe(data)
harden
print(json.dumps(sorted(m for m in sys.modules if m.startswith("secretscope"))))
'''


def _imported_modules(path: Path) -> set[str]:
    """Every module an import statement of `path` names, resolved against the package."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(filter(None, [base, node.module or ""]))
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def test_a_user_program_loads_no_diagnostic_module():
    r = run_python(USER_CODE)
    assert r.returncode == 0, r.stdout + r.stderr
    loaded = json.loads(r.stdout.splitlines()[-1])
    assert "secretscope._scope" in loaded  # the run did load the runtime
    assert [m for m in loaded if m.startswith("secretscope.diagnostics")] == []


def test_no_runtime_module_imports_the_diagnostics():
    runtime = [p for p in PACKAGE.rglob("*.py") if "diagnostics" not in p.parts and p not in NOT_RUNTIME]
    assert PACKAGE / "_scope.py" in runtime
    offenders = {str(p.relative_to(ROOT)): sorted(m for m in _imported_modules(p) if "diagnostics" in m)
                 for p in runtime}
    assert {path: names for path, names in offenders.items() if names} == {}

