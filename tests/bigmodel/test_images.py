import base64
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from bigmodel import jsonbody
from bigmodel.catalogue import default_catalogue
from bigmodel.images import (
    FetchFailed,
    FileHosts,
    ImageFile,
    ImageRejected,
    check_image,
    fetch_file,
    image_file_part,
    uploads_problem,
)
from tests import pictures

CATALOGUE = default_catalogue()
GLM_4V, GLM_4V_PLUS, GLM_4V_FLASH, GLM_4_FLASH = (
    CATALOGUE[name] for name in ("glm-4v", "glm-4v-plus", "glm-4v-flash", "glm-4-flash")
)


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("maker, fmt", [(pictures.png, "PNG"), (pictures.jpeg, "JPEG")])
def test_a_jpeg_or_png_within_the_limits_passes_with_what_it_is(tmp_path, maker, fmt):
    path = write(tmp_path, "photo.bin", maker(640, 480))  # the name says nothing: the bytes decide
    info = check_image(path, GLM_4V.images)
    assert (info.format, info.width, info.height, info.size) == (fmt, 640, 480, path.stat().st_size)
    assert info.content_type == f"image/{fmt.lower()}"


def test_a_file_object_is_checked_like_a_path(tmp_path):
    info = check_image(io.BytesIO(pictures.png(10, 20)), GLM_4V.images)
    assert (info.width, info.height) == (10, 20)


@pytest.mark.parametrize(
    "data, words",
    [
        (pictures.oversized_jpeg(), "is 6 MB; images may be at most 5 MB"),
        (pictures.gif(), "is a GIF file; send JPEG or PNG"),
        (pictures.huge_png(7000), "is 7000×7000 pixels; the limit is 6000×6000"),
        (pictures.truncated_png(), "could not be read as JPEG or PNG; the file may be damaged"),
        (b"not an image at all", "could not be read as JPEG or PNG"),
        (pictures.jpeg(400, 300)[:300], "could not be read as JPEG or PNG"),
    ],
)
def test_refusals_name_the_limit_broken(tmp_path, data, words):
    with pytest.raises(ImageRejected) as refused:
        check_image(write(tmp_path, "x.png", data), GLM_4V.images, name="“x.png”")
    assert str(refused.value).startswith("“x.png” ")
    assert words in str(refused.value)


def test_upload_rules_per_model():
    assert uploads_problem(GLM_4V_PLUS, new=5) == ""
    assert "up to 5 images per request (this one would carry 6)" in uploads_problem(
        GLM_4V_PLUS, new=6
    )
    assert "one image per request (this one would carry 2)" in uploads_problem(GLM_4V, new=2)
    assert "already carries 1; start a new one" in uploads_problem(GLM_4V, new=1, earlier=1)
    assert "only as web links" in uploads_problem(GLM_4V_FLASH, new=1)
    assert "images uploaded earlier" in uploads_problem(GLM_4V_FLASH, new=0, earlier=1)
    assert "does not read images" in uploads_problem(GLM_4_FLASH, new=1)
    # A text model is sent the text of a conversation that had images: no problem.
    assert uploads_problem(GLM_4_FLASH, new=0, earlier=3) == ""


def test_a_body_with_stored_images_streams_the_same_bytes_json_would_send(tmp_path):
    data = pictures.noisy_png(
        400_000
    )  # several read chunks, and a length that is not a multiple of 3
    image = ImageFile.at(write(tmp_path, "cat.png", data[:-1]))
    body = {
        "model": "glm-4v",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": 'What is this? \u00e9\u4e2d "quoted"'},
                    image_file_part(image),
                    image_file_part(image),
                ],
            }
        ],
    }
    content, headers = jsonbody.encode(body)
    streamed = b"".join(content)
    assert b"".join(content) == streamed  # iterable again, for a retry
    encoded = base64.b64encode(data[:-1]).decode()
    inline = json.loads(json.dumps(body, default=lambda _: encoded))
    assert json.loads(streamed) == inline
    assert int(headers["Content-Length"]) == len(streamed) == len(content)


def test_a_body_without_images_is_plain_bytes():
    content, headers = jsonbody.encode(
        {"model": "glm-4", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert content == b'{"model":"glm-4","messages":[{"role":"user","content":"hi"}]}'
    assert headers == {"Content-Type": "application/json", "Content-Length": str(len(content))}


@pytest.mark.parametrize(
    "width, height, passes", [(6000, 6000, True), (6001, 10, False), (10, 6001, False)]
)
def test_the_side_limit_is_inclusive(tmp_path, width, height, passes):
    path = write(tmp_path, "side.png", pictures.one_bit_png(width, height))
    if passes:
        assert (
            check_image(path, GLM_4V.images).width,
            check_image(path, GLM_4V.images).height,
        ) == (width, height)
    else:
        with pytest.raises(
            ImageRejected, match=f"is {width}×{height} pixels; the limit is 6000×6000"
        ):
            check_image(path, GLM_4V.images)


def test_exactly_five_megabytes_passes_and_one_byte_more_does_not(tmp_path):
    limit = GLM_4V.images.max_bytes
    assert limit == 5 * 1024 * 1024
    assert (
        check_image(
            write(tmp_path, "five.jpg", pictures.oversized_jpeg(limit - 1)), GLM_4V.images
        ).size
        == limit
    )
    with pytest.raises(ImageRejected, match="images may be at most 5 MB"):
        check_image(write(tmp_path, "more.jpg", pictures.oversized_jpeg(limit)), GLM_4V.images)


def test_generated_files_come_only_from_the_upstreams_hosts():
    hosts = FileHosts(domains=("bigmodel.cn", "chatglm.cn"), origin="http://127.0.0.1:8765")
    allowed = [
        "https://aigc-files.bigmodel.cn/api/cogview/x_0.png",
        "https://sfile.chatglm.cn/testpath/x_0.png",
        "https://bigmodel.cn/x.png",
        "http://127.0.0.1:8765/files/x.png",
    ]
    refused = [
        "http://aigc-files.bigmodel.cn/x.png",
        "https://bigmodel.cn.evil.example/x.png",
        "https://evilbigmodel.cn/x.png",
        "http://127.0.0.1:8766/files/x.png",
        "https://169.254.169.254/x",
        "file:///etc/passwd",
    ]
    assert [hosts.allows(httpx.URL(url)) for url in allowed] == [True] * len(allowed)
    assert [hosts.allows(httpx.URL(url)) for url in refused] == [False] * len(refused)


class _Files(BaseHTTPRequestHandler):
    def do_GET(self):
        port = self.server.server_port
        if self.path == "/elsewhere":  # the same server under another name: another host
            self.send_response(302)
            self.send_header("Location", f"http://localhost:{port}/image.png")
        elif self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/image.png")
        else:
            body = pictures.png(8, 8)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_download_follows_a_redirect_only_within_its_host(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_port}"
    hosts = FileHosts(domains=(), origin=origin)
    try:
        with open(tmp_path / "same", "w+b") as target:
            fetch_file(f"{origin}/moved", target, max_bytes=10**6, hosts=hosts)
            assert target.read() == pictures.png(8, 8)
        with (
            open(tmp_path / "other", "w+b") as target,
            pytest.raises(FetchFailed, match="redirected to another host"),
        ):
            fetch_file(f"{origin}/elsewhere", target, max_bytes=10**6, hosts=hosts)
        with (
            open(tmp_path / "outside", "w+b") as target,
            pytest.raises(FetchFailed, match="not on BigModel's file"),
        ):
            fetch_file(
                f"http://localhost:{server.server_port}/image.png",
                target,
                max_bytes=10**6,
                hosts=hosts,
            )
    finally:
        server.shutdown()
