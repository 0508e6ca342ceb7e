"""`DynamoDBStreamEventSource`: a DynamoDB Streams event source mapping run against DynamoDB Local.

One poll thread per mapping: it lists the stream's shards (every `shard_refresh_s`), reads each
shard with GetRecords following NextShardIterator (a child shard only after its parent is drained),
and delivers `{"Records": [...]}` batches through the shared retry policy (infra/runtime/retry.py;
itemIdentifier = `dynamodb.SequenceNumber`). Records are in Lambda's format: eventID, eventName,
eventVersion "1.1", eventSource "aws:dynamodb", awsRegion, dynamodb {ApproximateCreationDateTime
(epoch seconds), Keys, NewImage/OldImage per StreamViewType, SequenceNumber, SizeBytes,
StreamViewType}, eventSourceARN. Binary attribute values are base64 strings, as in Lambda's JSON.

Choices (AWS is silent or it differs locally):
- Checkpoints (the last finished SequenceNumber of each shard, and which shards are read to their
  end) are kept in `checkpoint_file` when one is given (the runtime's state dir), keyed by the stream
  ARN, and rewritten atomically after every batch: a restarted runtime resumes after them, as Lambda
  does, and StartingPosition applies only to shards it has never read. A checkpoint the stream has
  trimmed since resumes at TRIM_HORIZON. Without a file they live in memory.
- An iterator DynamoDB Local refuses (TrimmedDataAccess/ExpiredIterator: it does so to a held
  iterator after a TransactWriteItems that writes another table before this one) is replaced by one
  after the checkpoint, and that read is done again: positions are sequence numbers, as on Lambda.
- Shards are read one after the other in the poll thread (ParallelizationFactor is not applied);
  order per shard and parent-before-child hold as on AWS.
- The stream ARN is the table's LatestStreamArn (DescribeTable): of `table_name` when given, else of
  the table named in the spec's stream ARN; the spec's ARN is used as is when that table is unknown.
  Records (`eventSourceARN`) and on-failure messages carry it with the region of `awsRegion`
  (DynamoDB Local's ARNs name its own region).
- On-failure: one message per failed group of records in AWS's stream format (`DDBStreamBatchInfo`,
  condition "RetryAttemptsExhausted" or "RecordAgeExceeded"), to `kafka://` (no key) or to
  `<dead_letter_dir>/<function>.<event>.jsonl` for an SQS/SNS/S3 ARN; no destination: discarded.
- A batching window > 0 keeps calling GetRecords on the shard until BatchSize or the window elapses.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.config import Endpoints
from infra.runtime.destinations import Destination, failure_envelope, open_destination
from infra.runtime.filters import RecordFilter
from infra.runtime.invoker import InvocationResult, Invoker
from infra.runtime.retry import BatchRunner, Counters, FailedRecords, RetryPolicy
from infra.stack.clients import dynamodb_client, dynamodbstreams_client
from infra.template.models import DynamoDBEventSpec

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient

log = logging.getLogger(__name__)

CONDITIONS = {"retries_exhausted": "RetryAttemptsExhausted", "record_age_exceeded": "RecordAgeExceeded"}
_GET_RECORDS_LIMIT = 1000  # the GetRecords maximum


@dataclass
class _Shard:
    shard_id: str
    parent_id: str | None
    iterator: str | None = None
    done: bool = False
    checkpoint: str | None = None  # last finished SequenceNumber
    start_kind: str = "TRIM_HORIZON"  # where reading began when nothing is finished yet


class DynamoDBStreamEventSource:
    def __init__(
        self,
        spec: DynamoDBEventSpec,
        invoker: Invoker,
        *,
        function_id: str,
        endpoints: Endpoints,
        dead_letter_dir: Path,
        table_name: str | None = None,
        bootstrap_servers: str | None = None,
        function_arn: str | None = None,
        backoff_base_s: float = 0.2,
        backoff_max_s: float = 10.0,
        poll_interval_s: float = 0.25,
        shard_refresh_s: float = 2.0,
        hold_s: float = 1.0,
        checkpoint_file: Path | None = None,
    ) -> None:
        """`table_name`: the physical table whose stream to read (resolves LatestStreamArn);
        `bootstrap_servers`: needed only for a `kafka://` on-failure destination;
        `checkpoint_file`: where shard checkpoints survive a restart (None: in memory only)."""
        self.spec = spec
        self.invoker = invoker
        self.function_id = function_id
        self.endpoints = endpoints
        self.region = endpoints.region
        self.table_name = table_name
        self.function_arn = (
            function_arn or f"arn:aws:lambda:{self.region}:000000000000:function:{function_id}"
        )
        self.filter = RecordFilter(spec.filter_patterns)
        self.destination: Destination | None = open_destination(
            spec.on_failure_destination,
            bootstrap_servers=bootstrap_servers,
            file=dead_letter_dir / f"{function_id}.{spec.name}.jsonl",
        )
        self.policy = RetryPolicy(
            maximum_retry_attempts=spec.maximum_retry_attempts,
            maximum_record_age_seconds=spec.maximum_record_age_seconds,
            bisect_on_error=spec.bisect_on_error,
            report_batch_item_failures=spec.report_batch_item_failures,
            has_destination=self.destination is not None,
            backoff_base_s=backoff_base_s,
            backoff_max_s=backoff_max_s,
        )
        self.poll_interval_s = poll_interval_s
        self.shard_refresh_s = shard_refresh_s
        self.hold_s = hold_s
        self.counters = Counters()
        self.stream_arn: str | None = None  # the ARN DynamoDB Local answers to (API calls)
        self.record_arn: str | None = None  # the same ARN in our region (what records carry)
        self._state = "disabled" if not spec.enabled else "created"
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._shards: dict[str, _Shard] = {}
        self.checkpoint_file = checkpoint_file
        self._saved: dict[str, dict[str, Any]] = {}  # shard id -> {"checkpoint", "done"} from the file
        self._written: dict[str, Any] | None = None  # what the file holds now for this stream
        self._thread: threading.Thread | None = None

    # ---- EventSource -------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return f"{self.spec.function_logical_id}.{self.spec.name}"

    def start(self) -> None:
        if not self.spec.enabled or self._thread is not None:
            return
        self._state = "starting"
        self._thread = threading.Thread(target=self._run, name=f"ddb-esm-{self.name}", daemon=True)
        self._thread.start()

    def ready(self) -> bool:
        return not self.spec.enabled or self._ready.is_set()

    def status(self) -> dict[str, Any]:
        shards = {
            s.shard_id: {"checkpoint": s.checkpoint, "done": s.done} for s in list(self._shards.values())
        }
        return {
            "type": "DynamoDB",
            "state": self._state,
            "stream": self.stream_arn or self.spec.stream,
            "shards": shards,
            "on_failure": self.destination.description if self.destination else None,
            **self.counters.snapshot(),
        }

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        if self.destination is not None:
            self.destination.close()
        if self.spec.enabled:
            self._state = "stopped"

    # ---- poll thread -------------------------------------------------------------------------

    def _run(self) -> None:
        ddb = dynamodb_client(self.endpoints, max_pool_connections=2)
        streams = dynamodbstreams_client(self.endpoints)
        first = True
        refreshed = 0.0
        while not self._stop.is_set():
            try:
                if self.stream_arn is None:
                    self.stream_arn = self._resolve_stream_arn(ddb)
                    self.record_arn = regional_arn(self.stream_arn, self.region)
                    self._saved = self._load_checkpoints()
                if time.monotonic() - refreshed >= self.shard_refresh_s:
                    self._refresh_shards(streams, first)
                    refreshed = time.monotonic()
                    first = False
                    self._state = "polling"
                    self._ready.set()
                if not self._poll_shards(streams):
                    self._stop.wait(self.poll_interval_s)
            except Exception as exc:  # never let the loop die; say so in status
                log.exception("dynamodb stream source %s", self.name)
                self.counters.error(type(exc).__name__, str(exc))
                self._stop.wait(self.hold_s)
        self._state = "stopped"

    def _resolve_stream_arn(self, ddb: DynamoDBClient) -> str:
        table = self.table_name or _table_of(self.spec.stream)
        if table is None:
            return self.spec.stream
        try:
            described = ddb.describe_table(TableName=table)["Table"]
        except ddb.exceptions.ResourceNotFoundException:
            if self.table_name:
                raise
            return self.spec.stream
        arn = described.get("LatestStreamArn")
        if not arn:
            raise RuntimeError(f"table {table} has no stream (StreamSpecification is missing)")
        return arn

    def _refresh_shards(self, streams: DynamoDBStreamsClient, at_start: bool) -> None:
        assert self.stream_arn is not None
        kwargs: dict[str, Any] = {"StreamArn": self.stream_arn}
        while True:
            description = streams.describe_stream(**kwargs)["StreamDescription"]
            for shard in description.get("Shards", []):
                shard_id = shard["ShardId"]
                if shard_id in self._shards:
                    continue
                state = _Shard(shard_id, shard.get("ParentShardId"))
                closed = "EndingSequenceNumber" in shard.get("SequenceNumberRange", {})
                saved = self._saved.get(shard_id)
                if saved is not None:
                    self._resume(streams, state, saved)
                elif at_start and self.spec.starting_position == "LATEST":
                    if closed:
                        state.done = True
                    else:
                        state.start_kind = "LATEST"
                        state.iterator = self._iterator(streams, shard_id, "LATEST")
                else:
                    state.iterator = self._iterator(streams, shard_id, "TRIM_HORIZON")
                self._shards[shard_id] = state
            last = description.get("LastEvaluatedShardId")
            if not last:
                return
            kwargs["ExclusiveStartShardId"] = last

    def _iterator(
        self, streams: DynamoDBStreamsClient, shard_id: str, kind: str, after: str | None = None
    ) -> str | None:
        assert self.stream_arn is not None
        kwargs: dict[str, Any] = {"SequenceNumber": after} if after else {}
        answer = streams.get_shard_iterator(
            StreamArn=self.stream_arn,
            ShardId=shard_id,
            ShardIteratorType=kind,  # type: ignore[arg-type]
            **kwargs,
        )
        return answer.get("ShardIterator")

    def _reposition(self, streams: DynamoDBStreamsClient, shard: _Shard) -> str | None:
        """A new iterator just after the last finished record (or where the shard started)."""
        if shard.checkpoint:
            return self._iterator(streams, shard.shard_id, "AFTER_SEQUENCE_NUMBER", after=shard.checkpoint)
        return self._iterator(streams, shard.shard_id, shard.start_kind)

    # ---- checkpoints that survive a restart -----------------------------------------------------

    def _resume(self, streams: DynamoDBStreamsClient, state: _Shard, saved: dict[str, Any]) -> None:
        state.checkpoint = saved.get("checkpoint")
        if saved.get("done"):
            state.done = True
        elif state.checkpoint:
            try:
                state.iterator = self._iterator(
                    streams, state.shard_id, "AFTER_SEQUENCE_NUMBER", after=state.checkpoint
                )
            except streams.exceptions.TrimmedDataAccessException:
                state.iterator = self._iterator(streams, state.shard_id, "TRIM_HORIZON")
        else:
            state.iterator = self._iterator(streams, state.shard_id, "TRIM_HORIZON")

    def _load_checkpoints(self) -> dict[str, dict[str, Any]]:
        if self.checkpoint_file is None or not self.checkpoint_file.exists():
            return {}
        try:
            stored = json.loads(self.checkpoint_file.read_text())
        except (OSError, ValueError):
            log.warning("dynamodb stream source %s: unreadable checkpoints ignored", self.name)
            return {}
        shards = stored.get(self.stream_arn or "", {}) if isinstance(stored, dict) else {}
        return shards if isinstance(shards, dict) else {}

    def _save_checkpoints(self) -> None:
        if self.checkpoint_file is None or self.stream_arn is None:
            return
        current = {
            s.shard_id: {"checkpoint": s.checkpoint, "done": s.done}
            for s in list(self._shards.values())
            if s.checkpoint is not None or s.done
        }
        if current == self._written:
            return
        # Only this stream's entry is ours; a recreated table has a new stream ARN and starts afresh.
        self.checkpoint_file.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.checkpoint_file.with_name(f".{self.checkpoint_file.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps({self.stream_arn: current}))
        os.replace(temporary, self.checkpoint_file)
        self._written = current

    def _poll_shards(self, streams: DynamoDBStreamsClient) -> bool:
        """One round over the readable shards; True when any records came back."""
        got = False
        for shard in list(self._shards.values()):
            if shard.done or self._stop.is_set():
                continue
            parent = self._shards.get(shard.parent_id) if shard.parent_id else None
            if parent is not None and not parent.done:
                continue  # parent first, as Lambda does
            records = self._read_batch(streams, shard)
            if records:
                got = True
                self._deliver(shard, records)
            if records or shard.done:
                with contextlib.suppress(OSError):  # a full disk must not stop delivery
                    self._save_checkpoints()
        return got

    def _read_batch(self, streams: DynamoDBStreamsClient, shard: _Shard) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        deadline = time.monotonic() + self.spec.batching_window_seconds
        repositioned = False
        while shard.iterator and len(batch) < self.spec.batch_size:
            try:
                answer = streams.get_records(
                    ShardIterator=shard.iterator,
                    Limit=min(_GET_RECORDS_LIMIT, self.spec.batch_size - len(batch)),
                )
            except (
                streams.exceptions.TrimmedDataAccessException,
                streams.exceptions.ExpiredIteratorException,
            ):
                if repositioned:
                    raise
                # DynamoDB Local invalidates a held iterator when a TransactWriteItems writes another
                # table before this one (a fresh iterator reads fine). Lambda tracks sequence numbers,
                # not iterators: take a new one after the checkpoint and read this batch again.
                repositioned = True
                batch = []
                shard.iterator = self._reposition(streams, shard)
                continue
            shard.iterator = answer.get("NextShardIterator")
            batch.extend(self._lambda_record(r) for r in answer.get("Records", []))
            if time.monotonic() >= deadline or self._stop.is_set():
                break
            if not answer.get("Records"):
                self._stop.wait(min(self.poll_interval_s, max(0.0, deadline - time.monotonic())))
        if shard.iterator is None:
            shard.done = True  # a closed shard, read to its end
        return batch

    def _lambda_record(self, raw: Any) -> dict[str, Any]:
        data = raw["dynamodb"]
        created = data.get("ApproximateCreationDateTime")
        seconds: float | int = created.timestamp() if isinstance(created, datetime) else float(created or 0)
        if float(seconds).is_integer():
            seconds = int(seconds)
        dynamodb: dict[str, Any] = {"ApproximateCreationDateTime": seconds, "Keys": _attrs(data["Keys"])}
        for image in ("NewImage", "OldImage"):
            if image in data:
                dynamodb[image] = _attrs(data[image])
        dynamodb["SequenceNumber"] = data["SequenceNumber"]
        dynamodb["SizeBytes"] = int(data.get("SizeBytes", 0))
        dynamodb["StreamViewType"] = data.get("StreamViewType")
        return {
            "eventID": raw.get("eventID") or uuid.uuid4().hex,
            "eventName": raw["eventName"],
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": self.region,
            "dynamodb": dynamodb,
            "eventSourceARN": self.record_arn,
        }

    def _deliver(self, shard: _Shard, records: list[dict[str, Any]]) -> None:
        if self.filter.active:
            passed = [r for r in records if self.filter.matches(r)]
            self.counters.add(filtered=len(records) - len(passed))
        else:
            passed = records
        hooks = _ShardBatch(self, shard)
        remaining = passed
        while remaining and not self._stop.is_set():
            try:
                BatchRunner(self.policy, hooks, self.counters, self._stop.is_set, self._stop.wait).run(
                    remaining
                )
                break
            except Exception as exc:  # e.g. the destination is unreachable: retry the unfinished part
                log.exception("dynamodb stream source %s: batch failed", self.name)
                self.counters.error(type(exc).__name__, str(exc))
                done = shard.checkpoint
                remaining = [r for r in remaining if done is None or _seq(r) > int(done)]
                self._stop.wait(self.hold_s)
        if not self._stop.is_set() and records:
            shard.checkpoint = records[-1]["dynamodb"]["SequenceNumber"]

    def _on_failure(self, shard: _Shard, failed: FailedRecords[dict[str, Any]]) -> None:
        if self.destination is None:
            self.counters.add(discarded=len(failed.items))
            return
        first, last = failed.items[0], failed.items[-1]
        message = {
            **failure_envelope(failed, self.function_arn, CONDITIONS[failed.reason]),
            "DDBStreamBatchInfo": {
                "shardId": shard.shard_id,
                "startSequenceNumber": first["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": last["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(first),
                "approximateArrivalOfLastRecord": _iso(last),
                "batchSize": len(failed.items),
                "streamArn": self.record_arn,
            },
        }
        self.destination.send([(None, message)])
        self.counters.add(dead_lettered=len(failed.items))


class _ShardBatch:
    """The retry runner's hooks for one batch of one shard."""

    def __init__(self, source: DynamoDBStreamEventSource, shard: _Shard) -> None:
        self.source = source
        self.shard = shard

    def invoke(self, items: list[dict[str, Any]]) -> InvocationResult:
        return self.source.invoker.invoke(self.source.function_id, {"Records": items})

    def item_id(self, item: dict[str, Any]) -> str:
        return str(item["dynamodb"]["SequenceNumber"])

    def parse_item_identifier(self, identifier: Any) -> str | None:
        return identifier if isinstance(identifier, str) and identifier else None

    def record_time(self, item: dict[str, Any]) -> float:
        return float(item["dynamodb"]["ApproximateCreationDateTime"])

    def on_failure(self, failed: FailedRecords[dict[str, Any]]) -> None:
        self.source._on_failure(self.shard, failed)

    def done_through(self, item: dict[str, Any]) -> None:
        self.shard.checkpoint = item["dynamodb"]["SequenceNumber"]


def regional_arn(arn: str, region: str) -> str:
    """The ARN with `region` in its region field. DynamoDB Local names its own region in the ARNs it
    returns (`ddblocal` with -sharedDb), while records say `awsRegion`: one region throughout."""
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn":
        parts[3] = region
        return ":".join(parts)
    return arn


def _table_of(stream_arn: str) -> str | None:
    """arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label> -> <name>."""
    _, _, resource = stream_arn.partition(":table/")
    name = resource.split("/", 1)[0]
    return name or None


def _seq(record: dict[str, Any]) -> int:
    return int(record["dynamodb"]["SequenceNumber"])


def _iso(record: dict[str, Any]) -> str:
    when = datetime.fromtimestamp(record["dynamodb"]["ApproximateCreationDateTime"], UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _attrs(image: dict[str, Any]) -> dict[str, Any]:
    return {name: _attr(value) for name, value in image.items()}


def _attr(value: dict[str, Any]) -> dict[str, Any]:
    """A boto3 AttributeValue as Lambda's JSON writes it (bytes -> base64 strings)."""
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": base64.b64encode(inner).decode()}
    if kind == "BS":
        return {"BS": [base64.b64encode(b).decode() for b in inner]}
    if kind == "M":
        return {"M": _attrs(inner)}
    if kind == "L":
        return {"L": [_attr(v) for v in inner]}
    return {kind: inner}
