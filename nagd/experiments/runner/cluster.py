"""Runs on a Dask cluster (``--scheduler tcp://HOST:PORT``), after asking the address who it is.

`distributed.Client` can wait far beyond its own timeout at something that accepts connections but
is not a scheduler, and it unpickles what it is sent, so the address is first asked for its identity
over Dask's own connector, reading the replies as plain msgpack data (`check_scheduler`).
"""
import asyncio
import contextlib
import math
import struct
import threading
import traceback

from .worker import execute

__all__ = ["check_scheduler", "run_dask"]


_REPLY_LIMIT = 1 << 24
"""Bytes a scheduler's handshake or identity may take; a longer message is refused unread."""


class _NotAScheduler(Exception):
    """What answered at the scheduler's address did not answer as a Dask scheduler does."""


def _wire_message(obj):
    """``obj`` as one message of Dask's TCP protocol: its length, the frame count and lengths, one msgpack frame."""
    import msgpack
    frame = msgpack.packb(obj, use_bin_type=True)
    body = struct.pack("QQ", 1, len(frame)) + frame
    return struct.pack("Q", len(body)) + body


async def _read_plain(stream, limit=_REPLY_LIMIT):
    """Read one message of Dask's TCP protocol as plain msgpack data; nothing in it is unpickled.

    Dask sends pickled or serialized objects in frames after the first; a message that has any
    is refused (a scheduler's handshake and identity are plain data), and no msgpack extension
    hook, import or deserializer runs on the first frame.
    """
    import msgpack
    _, count = struct.unpack("QQ", await stream.read_bytes(16))
    if not 1 <= count <= 1024:
        raise _NotAScheduler(f"a message of {count} frames")
    lengths = struct.unpack(f"{count}Q", await stream.read_bytes(8 * count))
    if sum(lengths) > limit:
        raise _NotAScheduler(f"a message of {sum(lengths)} bytes")
    if count != 1:
        raise _NotAScheduler("objects that only pickle can read")
    frame = await stream.read_bytes(lengths[0]) if lengths[0] else b""
    try:
        return msgpack.unpackb(frame, raw=False, strict_map_key=False, use_list=False)
    except Exception as exc:     # any malformed msgpack
        raise _NotAScheduler(f"bytes that are not msgpack ({type(exc).__name__})") from None


def _scheduler_location(address):
    """``(scheme, location)`` of a scheduler address; ValueError (one line) for a bad scheme, host or port."""
    from distributed.comm.addressing import parse_address, parse_host_port
    scheme, loc = parse_address(address)
    from distributed.comm import registry
    registry.get_backend(scheme)                     # "unknown address scheme ..."
    if scheme not in ("tcp", "tls"):
        raise ValueError(f"only tcp:// and tls:// addresses are supported, not {scheme}://")
    _, port = parse_host_port(loc)
    try:
        port = int(port)
    except (TypeError, ValueError):
        port = -1
    if not 1 <= port <= 65535:
        raise ValueError(f"port {parse_host_port(loc)[1]} is not in 1..65535")
    return scheme, loc


async def _identify(address, seconds):
    """Ask the scheduler at ``address`` who it is; return its reply as plain data.

    The connection is made by Dask's own TCP or TLS connector (with the TLS settings of Dask's
    configuration), but the replies are read by `_read_plain`: a listener that is not a
    scheduler cannot make this process load a pickle before it is identified.
    """
    from distributed.comm import registry
    from distributed.security import Security
    scheme, loc = _scheduler_location(address)
    connector = registry.get_backend(scheme).get_connector()
    args = Security().get_connection_args("client")
    comm = await connector.connect(loc, deserialize=False, **args)
    try:
        stream = comm.stream
        await stream.write(_wire_message(comm.handshake_info()))
        handshake = await _read_plain(stream)
        if not isinstance(handshake, dict):
            raise _NotAScheduler("a handshake that is not a mapping")
        await stream.write(_wire_message({"op": "identity", "reply": True}))
        return await _read_plain(stream)
    finally:
        comm.abort()


def check_scheduler(address, seconds):
    """Raise ConnectionError (one line) unless a Dask scheduler answers at ``address`` within ``seconds``.

    `distributed.Client` can wait far beyond its own timeout at something that accepts
    connections but is not a scheduler, and it unpickles what it is sent, so the address is
    asked first, without unpickling anything (`_identify`), from a daemon thread with a hard
    deadline. A bad address or port is refused before any connection.
    """
    where = f"cannot reach the Dask scheduler at {address!r}"
    try:
        _scheduler_location(address)
    except ValueError as exc:
        raise ConnectionError(f"{where}: {_first_line(exc)}") from None
    box = {}

    def probe():
        try:
            box["reply"] = asyncio.run(asyncio.wait_for(_identify(address, seconds), seconds))
        except BaseException as exc:
            box["error"] = exc
    worker = threading.Thread(target=probe, daemon=True, name="nagd-scheduler-probe")
    worker.start()
    worker.join(seconds + 1.0)
    if worker.is_alive():
        raise ConnectionError(f"{where}: no answer within {seconds:g} s")
    if "error" in box:
        exc = box["error"]
        if isinstance(exc, _NotAScheduler):
            raise ConnectionError(f"{where}: it answered, but not as a Dask scheduler (it sent {exc})")
        text = _first_line(exc)
        if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) and not str(exc):
            text = f"no answer within {seconds:g} s"
        raise ConnectionError(f"{where}: {text}")
    reply = box.get("reply")
    if not isinstance(reply, dict) or reply.get("type") != "Scheduler":
        raise ConnectionError(f"{where}: it answered, but not as a Dask scheduler")


def _first_line(exc):
    """The first line of an exception's message, or its type's name when it has none."""
    return (str(exc).strip().splitlines() or [""])[0] or type(exc).__name__


def _abandon(client_type, tb):
    """Close, within a second, the Client whose constructor raised (found in its traceback ``tb``).

    Left to the garbage collector, it would wait twice its timeout for a scheduler that does not
    answer before letting the process go.
    """
    while tb is not None:
        client = tb.tb_frame.f_locals.get("self")
        if isinstance(client, client_type):
            with contextlib.suppress(Exception):
                client.close(timeout=1)
            client.status = "closed"
            with contextlib.suppress(Exception):
                client._loop_runner.stop()
            return
        tb = tb.tb_next


def run_dask(todo, out, scheduler, finish, timeout=20.0):
    """Execute ``todo`` on the Dask scheduler at ``scheduler``, calling ``finish(task, outcome)`` as each ends."""
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise ImportError("--scheduler needs dask.distributed: pip install 'nagd[dask]'") from None
    check_scheduler(scheduler, timeout)
    try:
        client = Client(scheduler, set_as_default=False, timeout=f"{timeout:g}s")
    except Exception as exc:     # it answered as a scheduler, then did not behave as one
        _abandon(Client, exc.__traceback__)
        detail = type(exc).__name__ + (f": {_first_line(exc)}" if str(exc).strip() else "")
        raise ConnectionError(f"cannot reach the Dask scheduler at {scheduler!r}: it answered as one, then failed "
                              f"({detail})") from None
    with client:
        futures = {client.submit(execute, task, out, pure=False, key=f"nagd-{task.key}"): task for task in todo}
        for fut in as_completed(list(futures), loop=client.loop):
            task = futures[fut]
            try:
                outcome = fut.result()
            except Exception:
                outcome = (False, traceback.format_exc(), math.nan)
            finish(task, outcome)
