"""``upload_file``'s steps, written once for both REST clients (cubeproto.rest.exchange
.FileUpload): the requests it makes, in order, are the storage catalogue's own, and a step
taken before the blob exists is refused."""

from __future__ import annotations

import pytest

from cubeproto.errors import LocalProtocolError
from cubeproto.rest import Blob, BlobObjectAccess
from cubeproto.rest.exchange import FileUpload, blob_upload
from cubeproto.rest.requests import complete_blob, create_blob

CREATED = Blob(
    id=7,
    uid="ab12",
    name="photo.jpg",
    content_type="image/jpeg",
    blob_object_access=BlobObjectAccess(
        params="https://s3.example/bucket?key=ab12&acl=public-read&x-amz-date=20240101"
    ),
)


def _steps(size: int = 1234) -> FileUpload:
    return FileUpload(
        name="photo.jpg", content_type="image/jpeg", size=size, public=True, boundary="b0undary"
    )


def test_the_steps_are_the_storage_requests_in_order() -> None:
    steps = _steps()
    create = steps.create()
    expected = create_blob(name="photo.jpg", content_type="image/jpeg", public=True)
    assert (create.method, create.url, create.body) == (
        expected.method,
        expected.url,
        expected.body,
    )
    upload = steps.upload(CREATED)
    assert upload == blob_upload(
        CREATED, name="photo.jpg", content_type="image/jpeg", size=1234, boundary="b0undary"
    )
    assert upload.url == "https://s3.example/bucket"
    complete = steps.complete()
    done = complete_blob(7, 1234)
    assert (complete.method, complete.url, complete.body) == (done.method, done.url, done.body)
    result = steps.result()
    assert (result.id, result.uid, result.size) == (7, "ab12", 1234)


@pytest.mark.parametrize("step", ["complete", "result"])
def test_a_step_before_the_blob_exists_is_refused(step: str) -> None:
    with pytest.raises(LocalProtocolError, match="upload"):
        getattr(_steps(), step)()
