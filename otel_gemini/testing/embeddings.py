"""Fake endpoint bodies and default routes for embeddings, token counting and the Files API.

The shapes are the wire formats the SDK parses (billing reference §1.4): gemini-embedding-2 reports a top-level
``usageMetadata`` spelled ``promptTokenDetails`` with no ``totalTokenCount``; gemini-embedding-001 on the Developer
API reports nothing; Vertex ``:embedContent`` reports ``usageMetadata`` and Vertex ``:predict`` /
``:batchEmbedContents`` report ``statistics.token_count`` per instance. Files use the resumable upload protocol of
google-genai (a ``start`` request answered with an ``x-goog-upload-url`` header, then ``upload, finalize`` chunks
answered with ``x-goog-upload-status: final`` and ``{"file": ...}``).

``install(fake)`` adds default routes (the demo calls it); tests queue exact bodies with ``fake.push``.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

from otel_gemini.testing.bodies import error
from otel_gemini.testing.fake_gemini import FakeGemini, Recorded, Reply

IMAGE_TOKENS = 258
"""What the fake reports per inline image, like Gemini's fixed per-image count."""


def _vector(dims: int, seed: int = 0) -> list[float]:
    return [round(((seed + i) % 7 - 3) / 10, 1) for i in range(dims)]


def embedding_usage(text: int = 0, image: int = 0, audio: int = 0, video: int = 0) -> dict[str, Any]:
    """gemini-embedding-2's usage as the API sends it: ``promptTokenDetails`` and no ``totalTokenCount``."""
    counts = {"TEXT": text, "IMAGE": image, "AUDIO": audio, "VIDEO": video}
    details = [{"modality": modality, "tokenCount": count} for modality, count in counts.items() if count]
    return {"promptTokenCount": sum(counts.values()), "promptTokenDetails": details}


def embed_response(vectors: int = 1, dims: int = 4, usage_metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """Developer API ``batchEmbedContents`` (what ``embed_content`` always calls there); usage None: absent."""
    body: dict[str, Any] = {"embeddings": [{"values": _vector(dims, i)} for i in range(vectors)]}
    if usage_metadata is not None:
        body["usageMetadata"] = usage_metadata
    return body


def vertex_predict_response(token_counts: list[int], dims: int = 4) -> dict[str, Any]:
    """Vertex ``:predict`` (text-embedding-005 and other non-Gemini embedding models): per-instance statistics."""
    predictions = [
        {"embeddings": {"values": _vector(dims, i), "statistics": {"truncated": False, "token_count": count}}}
        for i, count in enumerate(token_counts)
    ]
    return {"predictions": predictions, "metadata": {"billableCharacterCount": sum(token_counts) * 4}}


def vertex_batch_response(token_counts: list[int], dims: int = 4) -> dict[str, Any]:
    """Vertex ``:batchEmbedContents`` (a Gemini embedding model with several contents, SDK 3.x)."""
    return {"embeddings": [{"values": _vector(dims, i), "statistics": {"token_count": count}}
                           for i, count in enumerate(token_counts)]}


def vertex_embed_content_response(tokens: int, dims: int = 4) -> dict[str, Any]:
    """Vertex ``:embedContent`` (a Gemini embedding model with one content)."""
    return {"embedding": {"values": _vector(dims)}, "truncated": False,
            "usageMetadata": {"promptTokenCount": tokens, "totalTokenCount": tokens}}


def count_tokens_response(total: int) -> dict[str, Any]:
    return {"totalTokens": total}


def compute_tokens_response(per_content: list[int]) -> dict[str, Any]:
    """Vertex ``:computeTokens``: token ids (int64, so JSON strings) and pieces per content."""
    return {"tokensInfo": [{"role": "user", "tokenIds": [str(100 + i) for i in range(n)],
                            "tokens": ["dG9r"] * n} for n in per_content]}


def file_body(name: str, size: int, mime_type: str, base_url: str) -> dict[str, Any]:
    return {"name": name, "mimeType": mime_type, "sizeBytes": str(size), "state": "ACTIVE", "source": "UPLOADED",
            "createTime": "2026-11-23T10:00:00Z", "expirationTime": "2026-11-25T10:00:00Z",
            "uri": f"{base_url}/v1beta/{name}"}


# -- default routes -------------------------------------------------------------------------------------------


def _text_tokens(node: Any) -> int:
    """chars/4 over every text field, as the core fake counts prompts."""
    if isinstance(node, dict):
        return sum(len(v) // 4 if k == "text" and isinstance(v, str) else _text_tokens(v) for k, v in node.items())
    if isinstance(node, list):
        return sum(_text_tokens(v) for v in node)
    return 0


_MEDIA_KEYS = ("inlineData", "inline_data", "fileData", "file_data")  # the SDK sends snake_case here


def _images(node: Any) -> int:
    if isinstance(node, dict):
        media = sum(1 for k in node if k in _MEDIA_KEYS)
        return media + sum(_images(v) for v in node.values())
    if isinstance(node, list):
        return sum(_images(v) for v in node)
    return 0


def _batch_embed(rec: Recorded) -> tuple[int, dict[str, Any]]:
    requests = (rec.body or {}).get("requests") or [rec.body or {}]
    if "projects/" in rec.path:  # Vertex: statistics per instance
        return 200, vertex_batch_response([max(1, _text_tokens(r)) for r in requests])
    if "gemini-embedding-001" in (rec.model or ""):  # the Developer API reports no usage for it
        return 200, embed_response(len(requests))
    images = _images(requests)
    return 200, embed_response(len(requests), usage_metadata=embedding_usage(
        text=max(1, _text_tokens(requests)), image=images * IMAGE_TOKENS))


def _predict_embed(rec: Recorded) -> tuple[int, dict[str, Any]]:
    instances = (rec.body or {}).get("instances") or [{}]
    return 200, vertex_predict_response([max(1, _text_tokens(i) or len(str(i.get("content", ""))) // 4)
                                         for i in instances])


def _compute_tokens(rec: Recorded) -> tuple[int, dict[str, Any]]:
    contents = (rec.body or {}).get("contents") or [{}]
    return 200, compute_tokens_response([max(1, _text_tokens(c)) for c in contents])


class FileStore:
    """The fake's Files API: uploads live here until deleted, so get/list/delete answer consistently."""

    def __init__(self, fake: FakeGemini) -> None:
        self.fake = fake
        self.files: dict[str, dict[str, Any]] = {}
        self._pending: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def upload(self, rec: Recorded) -> Reply:
        command = rec.headers.get("x-goog-upload-command", "")
        if command == "start":
            upload_id = f"fake-upload-{next(self._ids)}"
            requested = ((rec.body or {}).get("file") or {}).get("name") or f"files/fake-{upload_id[12:]}"
            with self._lock:
                self._pending[upload_id] = file_body(
                    requested, int(rec.headers.get("x-goog-upload-header-content-length") or 0),
                    rec.headers.get("x-goog-upload-header-content-type") or "application/octet-stream",
                    self.fake.base_url)
            url = f"{self.fake.base_url}/upload/v1beta/files?upload_id={upload_id}&upload_protocol=resumable"
            return Reply(body={}, headers={"x-goog-upload-url": url, "x-goog-upload-status": "active"})
        with self._lock:
            pending = self._pending.get(rec.query.get("upload_id", ""))
            if pending is None:
                return Reply(404, error(404, "NOT_FOUND", "Unknown upload session"))
            if "finalize" not in command:
                return Reply(body={}, headers={"x-goog-upload-status": "active"})
            del self._pending[rec.query["upload_id"]]
            self.files[pending["name"]] = pending
        return Reply(body={"file": pending}, headers={"x-goog-upload-status": "final"})

    def _name(self, rec: Recorded) -> str:
        return "files/" + rec.path.rsplit("/files/", 1)[1].split(":", 1)[0]

    def get(self, rec: Recorded) -> tuple[int, dict[str, Any]]:
        with self._lock:
            found = self.files.get(self._name(rec))
        return (200, found) if found else (404, error(404, "NOT_FOUND", "File not found"))

    def delete(self, rec: Recorded) -> tuple[int, dict[str, Any]]:
        with self._lock:
            found = self.files.pop(self._name(rec), None)
        return (200, {}) if found else (404, error(404, "NOT_FOUND", "File not found"))

    def list(self, rec: Recorded) -> tuple[int, dict[str, Any]]:
        with self._lock:
            return 200, {"files": list(self.files.values())}

    def download(self, rec: Recorded) -> tuple[int, dict[str, Any]]:
        """The body is JSON (the core fake only writes JSON); the SDK hands its bytes back unchanged."""
        return 200, {"fake": "file contents", "name": self._name(rec)}


def install(fake: FakeGemini) -> FileStore:
    """Default answers for embeddings, computeTokens and files (countTokens is the core fake's own default)."""
    store = FileStore(fake)
    fake.route(r"^POST .*:(batchEmbedContents|embedContent)$", lambda rec: (
        (200, vertex_embed_content_response(max(1, _text_tokens(rec.body))))
        if rec.action == "embedContent" else _batch_embed(rec)))
    fake.route(r"^POST .*/models/[^/:]*embedding[^/:]*:predict$", _predict_embed)
    fake.route(r"^POST .*:computeTokens$", _compute_tokens)
    fake.route(r"^POST /upload/", store.upload)
    fake.route(r"^GET .*/files$", store.list)
    fake.route(r"^GET .*/files/[^/:]+$", store.get)
    fake.route(r"^DELETE .*/files/[^/:]+$", store.delete)
    fake.route(r"^GET .*/files/[^/]+:download$", store.download)
    return store
