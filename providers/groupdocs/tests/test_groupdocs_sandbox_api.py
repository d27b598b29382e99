"""The GroupDocs sandbox's storage, synchronous-conversion, info and token-lockout endpoints, spoken
directly: what the vendor's own SDK suite needs of it."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
import requests
from asyncjobs_groupdocs.sandbox import GroupDocsSandbox

from asyncjobs.sandbox import Sandbox

Api = Callable[..., requests.Response]
OLE = bytes.fromhex("d0cf11e0a1b11ae1") + b"\0" * 56


def docx(breaks: int) -> bytes:
    """A minimal .docx whose body holds ``breaks`` explicit page breaks."""
    body = '<w:p><w:r><w:br w:type="page"/></w:r></w:p>' * breaks
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "word/document.xml", f"<w:document><w:body>{body}<w:sectPr/></w:body></w:document>"
        )
        archive.writestr("docProps/app.xml", "<Properties><Pages>1</Pages></Properties>")
    return buffer.getvalue()


@pytest.fixture
def api(gd_box: Sandbox, gd_app: GroupDocsSandbox) -> Api:
    """``api(method, path, **requests_kwargs)`` under ``/v2.0/conversion``, with a valid token."""
    token = requests.post(
        f"{gd_box.url}/connect/token",
        data={
            "grant_type": "client_credentials",
            "client_id": gd_app.client_id,
            "client_secret": gd_app.client_secret,
        },
        timeout=5,
    ).json()["access_token"]

    def call(method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        url = f"{gd_box.url}/v2.0/conversion{path}"
        return requests.request(method, url, headers=headers, timeout=5, **kwargs)

    return call


def put(api: Api, path: str, data: bytes) -> None:
    answer = api("PUT", f"/storage/file/{path}", files={"file": (path.rsplit("/", 1)[-1], data)})
    assert answer.status_code == 200


def exists(api: Api, path: str) -> dict[str, Any]:
    body: dict[str, Any] = api("GET", f"/storage/exist/{path}").json()
    return body


# -- folders and files ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "parts",
    [
        [("file", ("b.txt", b"CONTENT"))],
        [("other", ("x.bin", b"OTHER")), ("file", ("b.txt", b"CONTENT"))],
        [("file", ("b.txt", b"CONTENT")), ("other", ("x.bin", b"OTHER"))],
    ],
    ids=["alone", "after-another-file", "before-another-file"],
)
def test_an_upload_stores_the_file_field_wherever_it_is_in_the_form(
    api: Api, parts: list[tuple[str, tuple[str, bytes]]]
) -> None:
    assert api("PUT", "/storage/file/a/b.txt", files=parts).status_code == 200
    assert api("GET", "/storage/file/a/b.txt").content == b"CONTENT"


def test_an_upload_without_a_file_field_stores_nothing(api: Api) -> None:
    answer = api("PUT", "/storage/file/a/c.txt", files=[("other", ("x.bin", b"OTHER"))])
    assert answer.status_code == 400
    assert not exists(api, "a/c.txt")["exists"]


@pytest.mark.parametrize("recursive", ["true", "false"])
def test_deleting_an_absent_folder_is_200(api: Api, recursive: str) -> None:
    answer = api("DELETE", "/storage/folder/converted", params={"recursive": recursive})
    assert answer.status_code == 200


def test_a_folder_is_deleted_with_its_files_when_recursive(api: Api) -> None:
    put(api, "converted/a.pdf", b"x")
    assert api("DELETE", "/storage/folder/converted", params={"recursive": "true"}).ok
    assert exists(api, "converted") == {"exists": False, "isFolder": False}


def test_a_folder_with_files_is_not_deleted_without_recursive(api: Api) -> None:
    put(api, "keep/a.pdf", b"x")
    answer = api("DELETE", "/storage/folder/keep", params={"recursive": "false"})
    assert answer.status_code == 400
    assert exists(api, "keep/a.pdf")["exists"]


def test_folders_are_created_copied_and_moved(api: Api) -> None:
    assert api("PUT", "/storage/folder/temp").ok
    put(api, "temp/a.txt", b"x")
    assert api("PUT", "/storage/folder/copy/temp", params={"destPath": "temp1"}).ok
    assert api("PUT", "/storage/folder/move/temp1", params={"destPath": "temp2"}).ok
    assert exists(api, "temp1")["exists"] is False
    assert exists(api, "temp2/a.txt")["exists"] is True
    assert exists(api, "temp/a.txt")["exists"] is True


def test_files_are_copied_and_moved(api: Api) -> None:
    put(api, "d/one-page.docx", b"doc")
    assert api("PUT", "/storage/file/copy/d/one-page.docx", params={"destPath": "t/x.docx"}).ok
    assert api("PUT", "/storage/file/move/t/x.docx", params={"destPath": "t/y.docx"}).ok
    assert (exists(api, "t/x.docx")["exists"], exists(api, "t/y.docx")["exists"]) == (False, True)
    assert api("GET", "/storage/file/t/y.docx").content == b"doc"


def test_copying_a_missing_file_says_the_key_does_not_exist(api: Api) -> None:
    answer = api("PUT", "/storage/file/copy/no/such.docx", params={"destPath": "x.docx"})
    assert answer.status_code == 404
    assert "The specified key does not exist" in answer.json()["error"]["message"]


def test_disc_usage_counts_the_bytes_stored(api: Api, gd_app: GroupDocsSandbox) -> None:
    put(api, "a.bin", b"12345")
    assert api("GET", "/storage/disc").json() == {"usedSize": 5, "totalSize": gd_app.disc_size}


def test_a_file_has_one_version_the_latest(api: Api) -> None:
    put(api, "v/a.docx", b"x")
    (version,) = api("GET", "/storage/version/v/a.docx").json()["value"]
    assert (version["name"], version["isLatest"], version["size"]) == ("a.docx", True, 1)


@pytest.mark.parametrize(("name", "known"), [("First Storage", True), ("Nope", False)])
def test_storage_exists_by_name(api: Api, name: str, known: bool) -> None:
    assert api("GET", f"/storage/{name}/exist").json() == {"exists": known}


# -- synchronous conversions and info ---------------------------------------------------------------


def test_convert_with_output_path_lists_the_stored_results(api: Api) -> None:
    put(api, "WordProcessing/one-page.docx", docx(0))
    answer = api(
        "POST",
        "",
        json={"FilePath": "WordProcessing/one-page.docx", "Format": "jpg", "OutputPath": "out"},
    )
    (item,) = answer.json()
    assert (item["name"], item["path"]) == ("one-page.jpg", "out/one-page.jpg")
    assert item["size"] > 0
    assert exists(api, "out/one-page.jpg")["exists"]


def test_convert_to_images_makes_one_per_page(api: Api) -> None:
    put(api, "four.docx", docx(3))
    answer = api("POST", "", json={"FilePath": "four.docx", "Format": "png", "OutputPath": "o"})
    assert [i["name"] for i in answer.json()] == [f"four-page-{n}.png" for n in range(1, 5)]


def test_convert_without_output_path_answers_the_file(api: Api) -> None:
    put(api, "a.docx", docx(0))
    answer = api("POST", "", json={"FilePath": "a.docx", "Format": "pdf"})
    assert answer.headers["Content-Disposition"] == 'attachment; filename="a.pdf"'
    assert answer.content.startswith(b"%PDF")


def test_convert_direct_answers_the_converted_file(api: Api) -> None:
    answer = api("PUT", "", params={"format": "pdf"}, files={"file": ("d.docx", docx(1))})
    assert answer.status_code == 200
    assert answer.content.startswith(b"%PDF")


@pytest.mark.parametrize(
    ("load_options", "status"), [(None, 400), ('{"password": "password"}', 200)]
)
def test_a_password_protected_document_needs_its_password(
    api: Api, load_options: str | None, status: int
) -> None:
    data = {"loadOptions": load_options} if load_options else {}
    answer = api("PUT", "", params={"format": "pdf"}, files={"file": ("p.docx", OLE)}, data=data)
    assert answer.status_code == status


def test_info_reads_the_page_count_from_the_document(api: Api) -> None:
    put(api, "WordProcessing/four-pages.docx", docx(3))
    body = api("GET", "/info", params={"filePath": "WordProcessing/four-pages.docx"}).json()
    assert (body["pageCount"], body["fileType"], body["size"]) == (4, "docx", len(docx(3)))


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/info", {"params": {"filePath": "somefolder/not-exist.docx"}}),
        ("POST", "", {"json": {"FilePath": "somefolder/not-exist.docx", "Format": "pdf"}}),
    ],
)
def test_a_missing_file_answers_in_the_services_wording(
    api: Api, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    answer = api(method, path, **kwargs)
    message = answer.json()["error"]["message"]
    assert answer.status_code == 404
    assert message.startswith("AmazonS3 Storage exception: The specified key does not exist.")
    assert "somefolder/not-exist.docx" in message


# -- the token lockout ------------------------------------------------------------------------------


def token(box: Sandbox, client_id: str, secret: str) -> requests.Response:
    return requests.post(
        f"{box.url}/connect/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        timeout=5,
    )


def test_the_lockout_follows_the_documented_rule_5_failures_then_600_s() -> None:
    app = GroupDocsSandbox(scale=1)
    with Sandbox(app) as box:
        answers = [token(box, app.client_id, "wrong") for _ in range(6)]
    app.close()
    assert [a.status_code for a in answers] == [400] * 5 + [429]
    assert answers[-1].headers["Retry-After"] == "600"


def test_the_lockout_is_per_credential_pair(gd_box: Sandbox, gd_app: GroupDocsSandbox) -> None:
    for _ in range(gd_app.failed_token_limit):
        token(gd_box, gd_app.client_id, "wrong")
    assert token(gd_box, gd_app.client_id, "wrong").status_code == 429
    assert token(gd_box, gd_app.client_id, "also-wrong").status_code == 400
    assert token(gd_box, gd_app.client_id, gd_app.client_secret).status_code == 200
