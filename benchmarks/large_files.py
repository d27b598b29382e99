"""Large files: upload and download of one large file (1 GiB by default) through asyncjobs, through
plain ``requests`` streaming, and through the official SDKs, against the ConvertAPI and GroupDocs
sandboxes.

Each transfer runs in a fresh worker process (``python -m benchmarks.large_files worker ...``), so
peaks do not mix; the sandbox runs in yet another process, so its memory is not counted. A worker
imports and connects first, then resets its resident high-water mark (``/proc/self/clear_refs``) and
measures the growth of ``VmHWM`` over the transfer alone. The input is a sparse file; downloads are written
to files, deleted at once; all of it, the GroupDocs sandbox's storage included, in ``/dev/shm`` when
it has room (so the disk's speed is not measured), else in the temporary folder. One
untimed transfer each way comes first, and each run starts with another contender.

What each contender does:

* ConvertAPI upload -- asyncjobs: ``client.submit("convert", source=path, to="pdf")`` (``POST /upload``
  streamed, then the conversion request); requests: the same two requests, the file object as
  ``data=``; SDK (``convertapi``): ``UploadIO(file).file_id`` (its upload, alone).
* ConvertAPI download -- a result padded to the size by the sandbox (``SandboxOutputSize``);
  asyncjobs: ``Result.save``; requests: ``iter_content(1 MiB)`` to a file; SDK: ``ResultFile.save``.
* GroupDocs upload -- asyncjobs: ``client.submit(..., upload_path=...)`` (the token, a streamed
  multipart ``PUT`` to storage, then the conversion request); requests: a streamed multipart body
  (a generator, sent chunked); SDK (``groupdocs-conversion-cloud``): ``FileApi.upload_file``.
* GroupDocs download of the file from storage -- asyncjobs: ``ResultFile.save`` through the adapter's
  ``open_file`` (what ``Result.save`` uses); requests: ``iter_content(1 MiB)``; SDK:
  ``FileApi.download_file``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ._common import MIB, ROOT, ServerProcess, measure_peak, summarize

PROVIDERS = ("convertapi", "groupdocs")
CONTENDERS = ("asyncjobs", "requests", "sdk")
DIRECTIONS = ("upload", "download")
NAME = "big.docx"
GD_DOWNLOAD = "bench/download.docx"
GD_UPLOAD = "bench/upload.docx"


# -- the workers (one transfer each, in their own process) ----------------------------------------


def _convertapi(args: argparse.Namespace) -> Callable[[], Any]:
    settings = json.loads(args.settings)
    base = settings["base_url"].rstrip("/")
    src, dest = Path(args.file), Path(args.dest)
    if args.contender == "asyncjobs":
        import asyncjobs

        client = asyncjobs.connect(
            "convertapi",
            ledger=dest / "ledger.sqlite3",
            timeout=asyncjobs.Timeouts(10, 600),
            **settings,
        )
        if args.direction == "upload":
            return lambda: client.submit("convert", source=src, to="pdf")
        job = client.submit(
            "convert", source=b"x", from_="txt", to="pdf", SandboxOutputSize=args.size
        )
        result = job.result(timeout=600)
        return lambda: result.save(dest / "out")
    if args.contender == "requests":
        import requests

        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {settings['secret']}"
        if args.direction == "upload":

            def upload() -> None:
                with src.open("rb") as body:
                    response = session.post(
                        base + "/upload",
                        data=body,
                        headers={
                            "Content-Disposition": f'inline; filename="{NAME}"',
                            "Content-Type": "application/octet-stream",
                        },
                        timeout=600,
                    )
                response.raise_for_status()
                session.post(
                    base + "/async/convert/docx/to/pdf",
                    params={"JobId": uuid.uuid4().hex},
                    data={"File": response.json()["FileId"], "StoreFile": "true"},
                    timeout=60,
                ).raise_for_status()

            return upload
        return lambda: _requests_download(session, args.url, dest / "out.pdf")
    import convertapi

    convertapi.api_credentials = settings["secret"]
    convertapi.base_uri = base + "/"
    convertapi.upload_timeout = convertapi.download_timeout = 600
    if args.direction == "upload":

        def sdk_upload() -> None:
            with src.open("rb") as body:
                assert convertapi.UploadIO(body, NAME).file_id

        return sdk_upload
    from convertapi.result_file import ResultFile

    file = ResultFile({"Url": args.url, "FileName": "out.pdf", "FileSize": args.size})
    return lambda: file.save(str(dest / "out.pdf"))


def _requests_download(session: Any, url: str, dest: Path, **kwargs: Any) -> None:
    with session.get(url, stream=True, timeout=600, **kwargs) as response, dest.open("wb") as out:
        response.raise_for_status()
        for chunk in response.iter_content(MIB):
            out.write(chunk)


def _gd_token(settings: dict[str, str]) -> str:
    import requests

    response = requests.post(
        settings["token_url"],
        data={
            "grant_type": "client_credentials",
            "client_id": settings["client_id"],
            "client_secret": settings["client_secret"],
        },
        timeout=60,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def _multipart(src: Path, boundary: str) -> Iterator[bytes]:
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{NAME}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    with src.open("rb") as f:
        while chunk := f.read(MIB):
            yield chunk
    yield f"\r\n--{boundary}--\r\n".encode()


def _groupdocs(args: argparse.Namespace) -> Callable[[], Any]:
    from urllib.parse import quote

    settings = json.loads(args.settings)
    base = settings["base_url"].rstrip("/")
    src, dest = Path(args.file), Path(args.dest)
    if args.contender == "asyncjobs":
        import asyncjobs

        client = asyncjobs.connect(
            "groupdocs",
            ledger=dest / "ledger.sqlite3",
            timeout=asyncjobs.Timeouts(10, 600),
            **settings,
        )
        if args.direction == "upload":
            return lambda: client.submit("convert", source=src, to="pdf", upload_path=GD_UPLOAD)
        provider: Any = client.provider
        provider.tokens.get()  # the token is fetched once per client, not per transfer
        bare = asyncjobs.ResultFile("download.docx", url=provider.storage_url(GD_DOWNLOAD))
        file = asyncjobs.ResultFile(
            bare.name, url=bare.url, opener=lambda: provider.open_file(bare)
        )
        return lambda: file.save(dest / "out.docx")
    if args.contender == "requests":
        import requests

        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {_gd_token(settings)}"
        if args.direction == "upload":

            def upload() -> None:
                boundary = uuid.uuid4().hex
                response = session.put(
                    f"{base}/conversion/storage/file/{quote(GD_UPLOAD, safe='')}",
                    data=_multipart(src, boundary),
                    headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
                    timeout=600,
                )
                response.raise_for_status()
                assert not response.json()["errors"]

            return upload
        url = f"{base}/conversion/storage/file/{quote(GD_DOWNLOAD, safe='')}"
        return lambda: _requests_download(session, url, dest / "out.docx")
    import groupdocs_conversion_cloud as gd

    config = gd.Configuration(settings["client_id"], settings["client_secret"])
    config.api_base_url = base.rsplit("/v2.0", 1)[0]
    config.temp_folder_path = str(dest)
    files = gd.FileApi.from_config(config)
    if args.direction == "upload":
        return lambda: files.upload_file(gd.UploadFileRequest(GD_UPLOAD, str(src)))
    return lambda: files.download_file(gd.DownloadFileRequest(GD_DOWNLOAD))


def worker(argv: Sequence[str]) -> None:
    """One transfer; prints ``{"seconds", "peak_mib", "reset"}`` as the last line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("provider", choices=PROVIDERS)
    parser.add_argument("contender", choices=CONTENDERS)
    parser.add_argument("direction", choices=DIRECTIONS)
    parser.add_argument("--settings", required=True)
    parser.add_argument("--file", required=True)
    parser.add_argument("--dest", required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--url", default="")
    args = parser.parse_args(argv)
    action = (_convertapi if args.provider == "convertapi" else _groupdocs)(args)
    seconds, peak, was_reset = measure_peak(action)
    print(json.dumps({"seconds": seconds, "peak_mib": peak, "reset": was_reset}), flush=True)


# -- the parent -----------------------------------------------------------------------------------


def _sparse(path: Path, size: int) -> None:
    with path.open("wb") as f:
        f.truncate(size)


def _run_worker(
    provider: str, contender: str, direction: str, settings: dict[str, str], **kw: Any
) -> dict[str, Any]:
    work = Path(kw["dest"])
    work.mkdir(parents=True, exist_ok=True)
    try:
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.large_files",
            "worker",
            provider,
            contender,
            direction,
            "--settings",
            json.dumps(settings),
            *[f"--{k}={v}" for k, v in kw.items()],
        ]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "ASYNCJOBS_PROGRESS": "0"}
        done = subprocess.run(
            cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{provider} {contender} {direction} failed:\n{done.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result
    finally:
        for path in sorted(work.rglob("*"), reverse=True):
            if path.is_file():
                path.unlink()
            else:
                path.rmdir()


def _download_url(settings: dict[str, str], size: int) -> str:
    """ConvertAPI: a done job whose result file is padded to ``size`` bytes; its URL."""
    import asyncjobs

    with asyncjobs.connect("convertapi", ledger=False, **settings) as client:
        job = client.submit("convert", source=b"x", from_="txt", to="pdf", SandboxOutputSize=size)
        url = job.result(timeout=600).files[0].url
    assert url is not None
    return url


def _groupdocs_prefill(settings: dict[str, str], src: Path) -> None:
    """GroupDocs: put the file in storage at GD_DOWNLOAD for the downloads (not measured)."""
    from urllib.parse import quote

    import requests

    boundary = uuid.uuid4().hex
    response = requests.put(
        f"{settings['base_url'].rstrip('/')}/conversion/storage/file/{quote(GD_DOWNLOAD, safe='')}",
        data=_multipart(src, boundary),
        headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Authorization": f"Bearer {_gd_token(settings)}",
        },
        timeout=600,
    )
    response.raise_for_status()


def _available_memory() -> int:
    """Bytes of memory the kernel says are available (``MemAvailable``), 0 when unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _workspace(tmp: Path, size: int) -> Path:
    """A folder in memory (``/dev/shm``) when it has room for the files of a run, else ``tmp``: the
    figures are about the client, not about how fast this machine's disk takes 1 GiB.

    ``/dev/shm`` is memory: its files (up to five of ``size``: the source, the sandbox's stored
    copy, a download, their prefill) and the contender that holds the most (an SDK reading the
    whole file twice over) must fit in the memory available together, or the kernel's OOM killer
    ends the run (it did at 4 GiB); on the disk the contenders share its speed instead."""
    shm = Path("/dev/shm")
    need = 5 * size + 512 * MIB
    try:
        if (
            shm.is_dir()
            and shutil.disk_usage(shm).free > need
            and _available_memory() > need + 2 * size
        ):
            return Path(tempfile.mkdtemp(prefix="asyncjobs-bench-", dir=shm))
    except OSError:
        pass
    return tmp


def run(*, size: int, repeats: int, tmp: Path) -> dict[str, Any]:
    """Measure; return the section's figures."""
    work = _workspace(tmp, size)
    try:
        return _run(size, repeats, work)
    finally:
        if work != tmp:
            shutil.rmtree(work, ignore_errors=True)


def _run(size: int, repeats: int, tmp: Path) -> dict[str, Any]:
    src = tmp / NAME
    _sparse(src, size)
    raw: dict[str, dict[str, dict[str, list[dict[str, Any]]]]] = {}
    try:
        for provider in PROVIDERS:
            extra = ["--root", str(tmp / "gd-root")] if provider == "groupdocs" else []
            with ServerProcess(provider, *extra, tmpdir=tmp) as server:
                settings = server.settings
                url = ""
                if provider == "convertapi":
                    url = _download_url(settings, size)
                else:
                    _groupdocs_prefill(settings, src)
                raw[provider] = {c: {d: [] for d in DIRECTIONS} for c in CONTENDERS}
                for direction in DIRECTIONS:  # a first transfer each way is slower: not counted
                    _run_worker(
                        provider,
                        "requests",
                        direction,
                        settings,
                        file=src,
                        dest=tmp / "work",
                        size=size,
                        url=url,
                    )
                for r in range(repeats):
                    # each run starts with another contender, so no one always goes first
                    order = CONTENDERS[r % 3 :] + CONTENDERS[: r % 3]
                    for direction in DIRECTIONS:
                        for contender in order:
                            raw[provider][contender][direction].append(
                                _run_worker(
                                    provider,
                                    contender,
                                    direction,
                                    settings,
                                    file=src,
                                    dest=tmp / "work",
                                    size=size,
                                    url=url,
                                )
                            )
    finally:
        src.unlink(missing_ok=True)
    return _figures(raw, size, repeats)


def _figures(raw: dict[str, Any], size: int, repeats: int) -> dict[str, Any]:
    mib = size / MIB
    out: dict[str, Any] = {}
    met = True
    worst_ratio = float("inf")
    worst_peak = 0.0
    for provider, by_contender in raw.items():
        out[provider] = {}
        for contender, by_direction in by_contender.items():
            out[provider][contender] = {}
            for direction, runs in by_direction.items():
                out[provider][contender][direction] = {
                    "mib_per_s": summarize([mib / r["seconds"] for r in runs], 1),
                    "peak_mib": summarize([r["peak_mib"] for r in runs], 1),
                    "peak_reset": all(r["reset"] for r in runs),
                }
        for direction in DIRECTIONS:
            ours = out[provider]["asyncjobs"][direction]
            plain = out[provider]["requests"][direction]
            ratio = ours["mib_per_s"]["median"] / plain["mib_per_s"]["median"]
            ours["throughput_vs_requests"] = round(ratio, 3)
            worst_ratio = min(worst_ratio, ratio)
            worst_peak = max(worst_peak, ours["peak_mib"]["max"])
            met = met and ratio >= 0.9 and ours["peak_mib"]["max"] <= 64
    return {
        "title": "Large files",
        "setup": (
            f"{mib:g} MiB sparse file; each transfer in a fresh process, sandbox in its own "
            f"process; {repeats} runs"
        ),
        "size_mib": mib,
        "providers": out,
        "worst_throughput_vs_requests": round(worst_ratio, 3),
        "worst_asyncjobs_peak_mib": round(worst_peak, 1),
        "target": "asyncjobs peak <= 64 MiB; throughput >= 0.9 x plain requests",
        "met": met,
    }


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        worker(sys.argv[2:])
    else:
        raise SystemExit("usage: python -m benchmarks.large_files worker ... (see benchmarks.run)")
