"""The local Durable Functions host and embedded Service Bus queue (see README.md in this folder)."""

from local.clock import VirtualClock, WallClock

from .client_api import ClientApiError
from .engine import COMPLETED, CONTINUED_AS_NEW, FAILED, PENDING, RUNNING, TERMINATED
from .host import LocalHost
from .index import FunctionIndex, FunctionIndexError, load_function_index
from .ncrontab import CronError, CronSchedule
from .queue import MAX_DELIVERY_COUNT_EXCEEDED, EmbeddedQueue, QueueError, QueueMessage, QueueOptions, SendResult
from .status import HostStats, InstanceChange, InstanceStatus

__all__ = [
    "COMPLETED",
    "CONTINUED_AS_NEW",
    "FAILED",
    "MAX_DELIVERY_COUNT_EXCEEDED",
    "PENDING",
    "RUNNING",
    "TERMINATED",
    "ClientApiError",
    "CronError",
    "CronSchedule",
    "EmbeddedQueue",
    "FunctionIndex",
    "FunctionIndexError",
    "HostStats",
    "InstanceChange",
    "InstanceStatus",
    "LocalHost",
    "QueueError",
    "QueueMessage",
    "QueueOptions",
    "SendResult",
    "VirtualClock",
    "WallClock",
    "load_function_index",
]
