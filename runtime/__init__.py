"""runtime: a small, fast, single-machine runtime with Ray's core API (tasks, actors, objects)."""
from __future__ import annotations

from .api import ActorClass as ActorClass
from .api import ActorHandle as ActorHandle
from .api import RemoteFunction as RemoteFunction
from .api import cancel as cancel
from .api import get as get
from .api import get_actor as get_actor
from .api import init as init
from .api import is_initialized as is_initialized
from .api import kill as kill
from .api import memory_summary as memory_summary
from .api import method as method
from .api import put as put
from .api import remote as remote
from .api import shutdown as shutdown
from .api import timeline as timeline
from .api import wait as wait
from .exceptions import ActorDiedError as ActorDiedError
from .exceptions import DeserializationError as DeserializationError
from .exceptions import GetTimeoutError as GetTimeoutError
from .exceptions import ObjectLostError as ObjectLostError
from .exceptions import ObjectStoreFullError as ObjectStoreFullError
from .exceptions import RayActorError as RayActorError
from .exceptions import RayTaskError as RayTaskError
from .exceptions import RuntimeBaseError as RuntimeBaseError
from .exceptions import TaskCancelledError as TaskCancelledError
from .exceptions import TaskError as TaskError
from .exceptions import WorkerCrashedError as WorkerCrashedError
from .object_ref import ObjectRef as ObjectRef
from . import exceptions as exceptions

__all__ = [
    "init", "shutdown", "is_initialized", "remote", "method", "get", "put", "wait", "kill",
    "cancel", "get_actor", "timeline", "memory_summary", "ObjectRef", "ActorHandle", "ActorClass", "RemoteFunction",
    "exceptions", "TaskError", "RayTaskError", "GetTimeoutError", "ActorDiedError",
    "RayActorError", "WorkerCrashedError", "TaskCancelledError", "ObjectLostError",
    "ObjectStoreFullError", "RuntimeBaseError", "DeserializationError",
]
