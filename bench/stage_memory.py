"""Where the preprocess job's memory goes on DirectRunner: peak RSS and held rows, stage by stage.

Runs `embedflow preprocess` in this process and, for every fused stage the
DirectRunner executes, records its wall time, the encoded bytes of its
input, the bytes of all other stages' inputs still held in memory, and the
process's peak RSS while it ran; prints the stages that took a second or
more, then the job's peak.  This is how the 20M-rating job's 9.3 GiB peak
was traced to the transform stage's input (the pickled train split) rather
than to analysis or writing.

    python bench/stage_memory.py --input DIR --output OUT [any preprocess flag]

It reads the in-memory FnApiRunner's queues (Beam 2.77's internals): a bench
tool for this pinned stack, not part of the product.  Grouped (shuffled)
collections hold decoded values, so their bytes are not counted.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import threading
import time

from apache_beam.runners.portability.fn_api_runner import fn_runner

GIB = 2 ** 30
SAMPLE_SECONDS = 0.1


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@dataclasses.dataclass
class StageRecord:
    label: str
    input_bytes: int
    held_bytes: int
    started: float
    seconds: float = 0.0
    peak_rss: int = 0


class StageMemory:
    """Wraps the runner's bundle execution; a sampler thread keeps the running stage's peak RSS."""

    def __init__(self):
        self.stages: list[StageRecord] = []
        self.peak_rss = 0
        self._current: StageRecord | None = None
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while True:
            rss = rss_bytes()
            self.peak_rss = max(self.peak_rss, rss)
            if self._current is not None:
                self._current.peak_rss = max(self._current.peak_rss, rss)
            time.sleep(SAMPLE_SECONDS)

    def install(self) -> None:
        execute = fn_runner.FnApiRunner._execute_bundle  # noqa: SLF001 - the runner's one entry per stage
        monitor = self

        def traced(runner, context, bundle_context_manager, bundle_input):
            record = StageRecord(stage_label(bundle_context_manager.stage.name),
                                 sum(map(buffer_bytes, bundle_input.data.values())), held_bytes(context),
                                 time.perf_counter(), peak_rss=rss_bytes())
            monitor._current = record
            try:
                return execute(runner, context, bundle_context_manager, bundle_input)
            finally:
                record.seconds = time.perf_counter() - record.started
                monitor.stages.append(record)
                monitor._current = None

        fn_runner.FnApiRunner._execute_bundle = traced  # noqa: SLF001


def stage_label(name: str) -> str:
    """A fused stage's first transform, readable: 'Transform_train-Transform' from its long generated name."""
    for part in re.split(r"[()+]+", name):
        if part and not part.startswith("ref_PCollection"):
            return re.sub(r"_\d+$", "", part.removeprefix("ref_AppliedPTransform_"))
    return name[:60]


def buffer_bytes(buffer) -> int:
    return sum(len(chunk) for chunk in getattr(buffer, "_inputs", []))


def held_bytes(context) -> int:
    """Encoded bytes of every stage input waiting in the runner's queues (shared buffers counted once)."""
    seen, total = set(), 0
    queues = context.queues
    for queue in (queues.watermark_pending_inputs, queues.ready_inputs, queues.time_pending_inputs):
        for _, data_input in list(queue._keyed_elements.values()):  # noqa: SLF001
            for buffer in data_input.data.values():
                if id(buffer) not in seen:
                    seen.add(id(buffer))
                    total += buffer_bytes(buffer)
    return total


def main() -> int:
    from embedflow.cli import main as embedflow

    monitor = StageMemory()
    monitor.install()
    code = embedflow(["preprocess", *sys.argv[1:]])
    print(f"\n{'stage (first transform)':<60} {'seconds':>8} {'input GiB':>10} {'held GiB':>9} {'peak RSS GiB':>13}")
    for stage in monitor.stages:
        if stage.seconds >= 1:
            print(f"{stage.label[:60]:<60} {stage.seconds:8.1f} {stage.input_bytes / GIB:10.2f} "
                  f"{stage.held_bytes / GIB:9.2f} {stage.peak_rss / GIB:13.2f}")
    print(f"job: {len(monitor.stages)} stages, peak RSS {monitor.peak_rss / GIB:.2f} GiB")
    return code


if __name__ == "__main__":
    sys.exit(main())
