"""ZeroGPU's execution model on a CPU machine, built from the `spaces` package's own code.

`spaces.GPU` (0.51.3, spaces/zero/wrappers.py) runs a decorated handler in a worker process forked
from the main process (multiprocessing's "fork" context), one per GPU the scheduler hands out and
reused while that GPU is idle; the handler's arguments go in, and its result (each yield of a
generator, or the exception) comes back, pickled through multiprocessing queues; Gradio progress
calls in the worker are relayed to the main process's queue. The duration is computed in the main
process before the GPU is asked for (`static_duration`: a number, or the duration function called
with the handler's arguments).

Here the package's wrappers run as they are. Stubbed are only the parts that need the ZeroGPU service
or a GPU: the scheduler's HTTP client (`schedule`, `allow`, `release`: every request is granted on
GPU 0, idle, so workers are reused as on a quiet Space; each request is recorded) and the torch
patching module (`spaces.zero.torch`: CUDA emulation, packing and moving tensors; no-ops on the CPU).
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import types
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from importlib.resources import files


def _torch_stub() -> types.ModuleType:
    stub = types.ModuleType("spaces.zero.torch")
    for name in ("enter_mode", "patch", "unpatch", "init", "move"):
        setattr(stub, name, lambda *args, **kwargs: None)
    stub.pack = stub.size = lambda *args, **kwargs: 0
    stub.is_in_bad_fork = lambda *args, **kwargs: False
    return stub


def _import_package():
    """The `spaces` package's wrappers, imported with ZeroGPU off (so importing patches nothing) and
    its torch module stubbed (it needs a CUDA build of torch and a GPU)."""
    saved = os.environ.pop("SPACES_ZERO_GPU", None)
    sys.modules.setdefault("spaces.zero.torch", _torch_stub())
    try:
        import spaces
        from spaces.zero import client, config, wrappers
    finally:
        if saved is not None:
            os.environ["SPACES_ZERO_GPU"] = saved
    return spaces, client, config, wrappers


@dataclass
class Request:
    task: str
    seconds: int


@dataclass
class ZeroGPU:
    """What the emulated scheduler saw: one `Request` per GPU call (handler name, seconds asked
    for), and the worker processes it forked."""

    requests: list[Request] = field(default_factory=list)
    workers: list = field(default_factory=list)
    reuse: bool = True  # False: the scheduler says the GPU is not idle, so each call forks a new worker
    warnings: list[str] = field(default_factory=list)
    _names: dict = field(default_factory=dict)

    def worker_pids(self) -> list[int]:
        return [w.process.pid for w in self.workers]

    def tasks(self) -> list[str]:
        return [r.task for r in self.requests]


@contextmanager
def zero_gpu(monkeypatch):
    """SPACES_ZERO_GPU set and `spaces.GPU` running handlers as the package does, for the block;
    yields the `ZeroGPU` record. Workers are ended afterwards."""
    spaces, client, config, wrappers = _import_package()
    record = ZeroGPU()
    first_config = json.loads(files("spaces.zero").joinpath(config.CONFIGS_FILENAME).read_text())[0]

    def schedule(task_id, request=None, duration=None, gpu_size=None, _first_attempt=True):
        seconds = round(client.get_duration_seconds(duration, gpu_size))
        record.requests.append(Request(record._names.get(task_id, str(task_id)), seconds))
        return types.SimpleNamespace(allowToken="emulated", nvidiaIndex=0, nvidiaUUID="GPU-emulated",
                                     idle=record.reuse)

    start_worker = wrappers.Worker.__init__

    def recorded_worker(self, *args, **kwargs):
        start_worker(self, *args, **kwargs)
        record.workers.append(self)

    def gpu(task=None, *, duration=None, size=None, **_ignored):
        """spaces.GPU as spaces/zero/decorator.py builds it on ZeroGPU."""
        if not callable(task):
            return partial(gpu, duration=duration, size=size)
        generator = inspect.isgeneratorfunction(task)
        wrap = wrappers.generator_function_wrapper if generator else wrappers.regular_function_wrapper
        decorated = wrap(task, duration, size)
        record._names[id(task)] = getattr(task, "__name__", "task")
        return decorated

    monkeypatch.setattr(config, "get_config", lambda: first_config)
    monkeypatch.setattr(client, "schedule", schedule)
    monkeypatch.setattr(client, "allow", lambda *args, **kwargs: None)
    monkeypatch.setattr(client, "release", lambda *args, **kwargs: None)
    monkeypatch.setattr(client, "duration_warning", lambda: record.warnings.append("past its duration"))
    monkeypatch.setattr(wrappers.Worker, "__init__", recorded_worker)
    monkeypatch.setattr(spaces, "GPU", gpu)
    monkeypatch.setitem(sys.modules, "spaces", spaces)
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    try:
        yield record
    finally:
        for worker in record.workers:
            worker.process.terminate()
        for worker in record.workers:
            worker.process.join(10)
            if worker.process.is_alive():
                worker.process.kill()
