"""The ``coldstart`` workload: a fresh interpreter to the first result of a small map.
Layer: faces (bench.coldstart; imports the package and its own modules).

Each round starts ``python script.py`` in a new process; the script imports the library, maps a
sum over a small array with 2 workers and prints the wall-clock time at which the answer is in
hand. The figure is that time minus the moment the parent started the process: interpreter
start-up, imports, pool start-up and the map, but not the interpreter's exit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from .workloads import GOAL_WORKERS, OURS, Case, Data, Workload

_HEAD = "import time\nimport numpy as np\n\ndef f(c):\n    return int(c.sum())\n\n"
_BODY = {
    "ours": "import parallel_analysis as par\n"
            "r = par.map_reduce(lambda c: int(c.sum()), x, lambda a, b: a + b, "
            "backend={runner!r}, workers={workers})",
    "plain": "r = f(x)",
    "joblib": "from joblib import Parallel, delayed\n"
              "r = sum(Parallel(n_jobs={workers})(delayed(f)(c) for c in np.array_split(x, 8)))",
    "multiprocessing": "import multiprocessing\n"
                       "with multiprocessing.Pool({workers}) as pool:\n"
                       "    r = sum(pool.map(f, np.array_split(x, 8)))",
    "ProcessPoolExecutor": "from concurrent.futures import ProcessPoolExecutor\n"
                           "with ProcessPoolExecutor({workers}) as pool:\n"
                           "    r = sum(pool.map(f, np.array_split(x, 8)))",
    "dask": "import dask\n"
            "r = sum(dask.compute(*[dask.delayed(f)(c) for c in np.array_split(x, 8)], "
            "scheduler='processes', num_workers={workers}))",
    "mpire": "from mpire import WorkerPool\n"
             "with WorkerPool(n_jobs={workers}) as pool:\n"
             "    r = sum(pool.map(f, [(c,) for c in np.array_split(x, 8)]))",
}


@dataclass
class Timed:
    """A result that carries its own timing (the runner uses it instead of its stopwatch)."""

    value: object
    seconds: float
    total_seconds: float


def script(case: Case) -> str:
    """The Python source a coldstart round runs for ``case``."""
    key = "ours" if case.runner in OURS else case.runner
    body = _BODY[key].format(runner=case.runner, workers=case.workers)
    indented = "\n".join("    " + line for line in body.splitlines())
    return (f"{_HEAD}if __name__ == '__main__':\n    x = np.arange({case.size}, dtype=np.int64)\n"
            f"{indented}\n    print(repr(time.time()), r, flush=True)\n")


class ColdStart(Workload):
    name = "coldstart"
    title = "fresh interpreter to the first result of a 2-worker map (subprocess)"
    baseline = "plain"
    plain_label = "numpy"
    sizes = {"smoke": 100_000, "quick": 100_000, "full": 100_000}
    rounds = {"smoke": 1, "quick": 3, "full": 5}

    def cases(self, mode, workers, peers):
        size, rounds = self.sizes[mode], self.rounds[mode]
        out = [Case(self.name, "plain", 1, size=size, rounds=rounds),
               Case(self.name, "serial", 1, size=size, rounds=rounds)]
        out += [Case(self.name, b, GOAL_WORKERS, size=size, rounds=rounds)
                for b in ("thread", "auto")]
        out += [Case(self.name, "process", w, size=size, rounds=rounds) for w in workers]
        out += [Case(self.name, p, GOAL_WORKERS, size=size, rounds=rounds) for p in peers]
        if mode == "quick":  # a minute's budget: our process backend and two peers for scale
            out = [c for c in out if c.runner in ("plain", "process", "joblib", "multiprocessing")
                   and c.workers == GOAL_WORKERS or c.runner == "plain"]
        return out

    def make_data(self, size):
        folder = tempfile.mkdtemp(prefix="par-coldstart-")
        data = Data(size, 0)
        data.extra["folder"] = folder
        data.callback(_remove_tree, folder)
        return data

    def run(self, case, runners, data):
        path = os.path.join(data.extra["folder"], f"{case.runner}_{case.workers}.py")
        with open(path, "w") as f:
            f.write(script(case))
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        started = time.time()
        proc = subprocess.run([sys.executable, path], capture_output=True, text=True, env=env,
                              cwd=data.extra["folder"], timeout=120)
        total = time.time() - started
        if proc.returncode != 0:
            raise RuntimeError(f"coldstart {case.id} failed:\n{proc.stderr[-2000:]}")
        stamp, value = proc.stdout.split()[-2:]
        return Timed(int(value), float(stamp) - started, total)

    def check(self, result, expected):
        value = result.value if isinstance(result, Timed) else result
        want = expected.value if isinstance(expected, Timed) else expected
        if value != want:
            raise AssertionError(f"coldstart: got {value!r}, expected {want!r}")


def _remove_tree(folder: str) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
