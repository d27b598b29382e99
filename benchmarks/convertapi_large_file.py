"""Peak memory and time of a large upload and a large download through the ConvertAPI adapter, against
its sandbox on 127.0.0.1 (not part of the test suite; a smoke test runs it with 1 MiB).

    /work/.venv/bin/python benchmarks/convertapi_large_file.py --size-mib 1024

Upload: ``client.submit("convert", source=<path>)`` streams the file to ``POST /upload`` (the open file
is passed to requests as ``data=``). Download: a job whose result is padded to the same size by the
sandbox's ``SandboxOutputSize`` parameter, saved with ``Result.save`` (streamed in 1 MiB chunks).

Peak memory is the growth of the process's resident high-water mark (``VmHWM`` in /proc/self/status,
reset through /proc/self/clear_refs where the kernel allows) during each phase. The sandbox runs in the
same process, so the figures include its side too: they are an upper bound for the client alone.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import asyncjobs
from asyncjobs.sandbox import Sandbox

MIB = 1024 * 1024


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _measure(action: Callable[[], Any]) -> tuple[float, float, Any]:
    """Run ``action``; return (seconds, peak RSS growth in MiB, its value). Where the peak cannot be
    reset, the growth is measured from the current RSS to the lifetime peak: an upper bound."""
    _reset_peak()
    base = _status_kib("VmRSS")
    start = time.perf_counter()
    value = action()
    seconds = time.perf_counter() - start
    return seconds, max(_status_kib("VmHWM") - base, 0) / 1024, value


def _write_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    block = bytes(range(256)) * (MIB // 256)
    with path.open("wb") as f:
        left = size
        while left > 0:
            part = block[: min(left, MIB)]
            f.write(part)
            digest.update(part)
            left -= len(part)
    return digest.hexdigest()


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print a table and return the figures."""
    from asyncjobs_convertapi.sandbox import ConvertAPISandbox, expected_output_for_sha256

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=float, default=1024.0, help="file size in MiB")
    parser.add_argument("--protocol", choices=("current", "legacy"), default="current")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where to write the test file (a new temporary folder by default)",
    )
    args = parser.parse_args(argv)
    size = int(args.size_mib * MIB)
    work = Path(tempfile.mkdtemp(prefix="asyncjobs-bench-", dir=args.workdir))
    app = ConvertAPISandbox(scale=1.0, duration=0.0, hold=0.0, bytes_per_second=1e12)
    try:
        src = work / "large.bin"
        sha = _write_file(src, size)
        with (
            Sandbox(app) as box,
            asyncjobs.connect(
                "convertapi",
                ledger=False,
                protocol=args.protocol,
                timeout=asyncjobs.Timeouts(10, 600),
                **app.client_settings(box.url),
            ) as client,
        ):

            def upload() -> bytes:
                job = client.submit("convert", source=src, to="pdf")
                return job.result(timeout=600).files[0].read()

            up_s, up_mib, out = _measure(upload)
            assert out == expected_output_for_sha256("bin", "pdf", sha), (
                "the sandbox saw other bytes than were sent"
            )
            job = client.submit(
                "convert", source=b"x", from_="txt", to="pdf", SandboxOutputSize=size
            )
            result = job.result(timeout=600)
            dest = work / "out"
            down_s, down_mib, saved = _measure(lambda: result.save(dest))
            assert saved[0].stat().st_size == size
    finally:
        app.close()
        shutil.rmtree(work, ignore_errors=True)
    figures = {
        "size_mib": size / MIB,
        "upload_seconds": up_s,
        "upload_peak_mib": up_mib,
        "upload_mib_per_s": size / MIB / up_s if up_s else float("inf"),
        "download_seconds": down_s,
        "download_peak_mib": down_mib,
        "download_mib_per_s": size / MIB / down_s if down_s else float("inf"),
    }
    print(
        f"ConvertAPI adapter vs sandbox on 127.0.0.1, {size / MIB:g} MiB, protocol "
        f"{args.protocol}, python {sys.version.split()[0]}, pid {os.getpid()}"
    )
    print(f"{'phase':<10}{'seconds':>10}{'MiB/s':>10}{'peak RSS growth MiB':>22}")
    for phase in ("upload", "download"):
        print(
            f"{phase:<10}{figures[phase + '_seconds']:>10.2f}"
            f"{figures[phase + '_mib_per_s']:>10.0f}{figures[phase + '_peak_mib']:>22.1f}"
        )
    return figures


if __name__ == "__main__":
    main()
