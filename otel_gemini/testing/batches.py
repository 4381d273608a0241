"""Batch jobs on the fake endpoint: an in-memory job store that a test (or the demo) advances by hand.

The Developer API keeps a batch job as a long-running operation ``{name: "batches/…", metadata: {...}}`` whose
``metadata`` is a ``GenerateContentBatch`` (or ``EmbedContentBatch``) with ``state: BATCH_STATE_*``,
``batchStats`` and, once finished, ``output.inlinedResponses.inlinedResponses[]`` of ``{response|error,
metadata}`` -- the shapes google-genai 2.x and 3.x parse (batches.py ``_BatchJob_from_mldev``). Real jobs take
minutes to hours; here :meth:`BatchStore.finish` makes one finish at once with the responses the test wants.
"""

from __future__ import annotations

import itertools
import threading
from datetime import datetime, timezone
from typing import Any

from otel_gemini.testing.bodies import error, response, usage
from otel_gemini.testing.fake_gemini import FakeGemini, Recorded

__all__ = ["BatchStore", "install", "succeeded", "failed", "embedded"]

_GENERATE_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
_EMBED_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.EmbedContentBatch"


def succeeded(prompt: int, candidates: int, thoughts: int = 0, *, model_version: str = "gemini-2.5-flash",
              key: str | None = None) -> dict[str, Any]:
    """One inlined response that succeeded, with the usage Google bills."""
    item: dict[str, Any] = {"response": response(
        "ok", model_version=model_version, usage_metadata=usage(prompt=prompt, candidates=candidates, thoughts=thoughts)
    )}
    if key is not None:
        item["metadata"] = {"key": key}
    return item


def failed(code: int = 400, message: str = "Request contains an invalid argument.") -> dict[str, Any]:
    """One inlined request that failed: a google.rpc.Status instead of a response (billed nothing)."""
    return {"error": error(code, "INVALID_ARGUMENT", message)["error"]}


def embedded(prompt: int) -> dict[str, Any]:
    """One inlined embedding response, with the embedding-specific usage shape (``promptTokenDetails``)."""
    return {"response": {"embedding": {"values": [0.01, -0.02, 0.03]},
                         "usageMetadata": {"promptTokenCount": prompt,
                                           "promptTokenDetails": [{"modality": "TEXT", "tokenCount": prompt}]}}}


def _now() -> str:
    """RFC 3339 with nanoseconds, as Google writes timestamps."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


class BatchStore:
    """The fake's batch jobs, by id; thread-safe because the fake serves each connection on its own thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self.create_time: str | None = None
        """When set, new jobs report this ``createTime`` (to test the price date of a job)."""

    def _create(self, rec: Recorded, embeddings: bool) -> tuple[int, dict[str, Any]]:
        batch = (rec.body or {}).get("batch", {})
        requests = batch.get("inputConfig", {}).get("requests", {}).get("requests", [])
        job_id = f"fakebatch{next(self._ids)}"
        meta: dict[str, Any] = {
            "@type": _EMBED_TYPE if embeddings else _GENERATE_TYPE,
            "model": f"models/{rec.model}",
            "displayName": batch.get("displayName", job_id),
            "state": "BATCH_STATE_PENDING",
            "createTime": self.create_time or _now(),
            "updateTime": _now(),
            "batchStats": {"requestCount": str(len(requests)), "pendingRequestCount": str(len(requests))},
        }
        job = {"name": f"batches/{job_id}", "metadata": meta, "done": False}
        with self._lock:
            self._jobs[job_id] = job
        return 200, job

    def _job(self, rec: Recorded) -> tuple[int, dict[str, Any]] | None:
        job_id = rec.path.rsplit("/", 1)[-1].split(":", 1)[0]
        with self._lock:
            job = self._jobs.get(job_id)
        return None if job is None else (200, job)

    def _get(self, rec: Recorded) -> tuple[int, dict[str, Any]]:
        return self._job(rec) or (404, error(404, "NOT_FOUND", "Requested entity was not found."))

    def _list(self, rec: Recorded) -> tuple[int, dict[str, Any]]:
        """Pages of ``pageSize`` jobs (default all), the page token being the next offset."""
        with self._lock:
            jobs = list(self._jobs.values())
        start = int(rec.query.get("pageToken") or 0)
        size = int(rec.query.get("pageSize") or len(jobs) or 1)
        page: dict[str, Any] = {"operations": jobs[start:start + size]}
        if start + size < len(jobs):
            page["nextPageToken"] = str(start + size)
        return 200, page

    def _cancel(self, rec: Recorded) -> tuple[int, dict[str, Any]]:
        found = self._job(rec)
        if found is None:
            return 404, error(404, "NOT_FOUND", "Requested entity was not found.")
        self.set_state(found[1]["name"], "BATCH_STATE_CANCELLED")
        return 200, {}

    def _delete(self, rec: Recorded) -> tuple[int, dict[str, Any]]:
        job_id = rec.path.rsplit("/", 1)[-1]
        with self._lock:
            job = self._jobs.pop(job_id, None)
        return (200, {}) if job is not None else (404, error(404, "NOT_FOUND", "Requested entity was not found."))

    # -- what tests call -----------------------------------------------------------------------------------

    def set_state(self, name: str, state: str) -> None:
        """Move a job to ``BATCH_STATE_RUNNING`` etc. (accepts ``batches/id`` or ``id``)."""
        with self._lock:
            job = self._jobs[name.rsplit("/", 1)[-1]]
            job["metadata"]["state"] = state
            job["metadata"]["updateTime"] = _now()
            job["done"] = state in ("BATCH_STATE_SUCCEEDED", "BATCH_STATE_FAILED", "BATCH_STATE_CANCELLED",
                                    "BATCH_STATE_EXPIRED")

    def finish(self, name: str, inlined: list[dict[str, Any]] | None = None, *, responses_file: str | None = None,
               state: str = "BATCH_STATE_SUCCEEDED") -> None:
        """Finish a job with inlined responses (see :func:`succeeded`, :func:`failed`) or a results file."""
        self.set_state(name, state)
        with self._lock:
            meta = self._jobs[name.rsplit("/", 1)[-1]]["metadata"]
            meta["endTime"] = _now()
            if responses_file is not None:
                meta["output"] = {"responsesFile": responses_file}
                total = int(meta["batchStats"]["requestCount"])
                meta["batchStats"] = {"requestCount": str(total), "successfulRequestCount": str(total)}
            else:
                items = list(inlined or ())
                failures = sum(1 for item in items if "error" in item)
                meta["output"] = {"inlinedResponses": {"inlinedResponses": items}}
                meta["batchStats"] = {"requestCount": str(len(items)),
                                      "successfulRequestCount": str(len(items) - failures),
                                      "failedRequestCount": str(failures)}


def install(fake: FakeGemini) -> BatchStore:
    """Default batch routes on ``fake`` backed by a new store; returns the store so the caller can advance jobs."""
    store = BatchStore()
    fake.route(r"^POST .*/models/[^/:]+:batchGenerateContent$", lambda rec: store._create(rec, embeddings=False))
    fake.route(r"^POST .*/models/[^/:]+:asyncBatchEmbedContent$", lambda rec: store._create(rec, embeddings=True))
    fake.route(r"^GET .*/batches$", store._list)
    fake.route(r"^GET .*/batches/[^/:]+$", store._get)
    fake.route(r"^POST .*/batches/[^/:]+:cancel$", store._cancel)
    fake.route(r"^DELETE .*/batches/[^/:]+$", store._delete)
    return store
