"""Fair turns for generations that share one machine: two versions side by side advance in lockstep.

Two generations on two threads of one process, each with its own OpenMP team (CPU) or its own stream of
kernels (GPU), do not share the machine evenly: in the browser one side ran at a third of the other's speed,
whichever side it was on. With a :class:`Lockstep`, each generation holds the turn for one decode step and
then hands it to the next one, round robin; nobody waits for a generation that has not joined yet (one still
loading its model) or that has left (finished). Each seat counts its own time, so the tokens per second shown
for a version are its own, not halved by the other side's steps: a turn costs from the end of the turn before
it (or from when the seat asked, if nobody was running) to its own end. Handing the turn over (waking the
other thread, which on a busy machine waits for a core) is then charged to the side that receives it, and
the seats' times add up to the wall time of the run.
"""

from __future__ import annotations

import threading
import time


class Lockstep:
    """Round-robin turns among the seats taken; thread-safe."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._seats: list[Seat] = []
        self._turn: Seat | None = None  # whose step is next; None: whoever asks first
        self._running: Seat | None = None  # who holds the turn now
        self.last_release_at = float("-inf")  # when the last turn ended

    def seat(self, name: str = "") -> Seat:
        """A new participant (joins the rotation on its first :meth:`Seat.acquire`)."""
        return Seat(self, name)

    # -- used by Seat ------------------------------------------------------------------------------------

    def _acquire(self, seat: Seat) -> None:
        with self._condition:
            if seat not in self._seats:
                self._seats.append(seat)
            while self._running is not None or (self._turn is not None and self._turn is not seat):
                self._condition.wait()
            self._running = seat
            self._turn = seat

    def _release(self, seat: Seat, now: float) -> None:
        with self._condition:
            self.last_release_at = now
            if self._running is seat:
                self._running = None
            self._turn = self._next_after(seat)
            self._condition.notify_all()

    def _leave(self, seat: Seat, now: float | None = None) -> None:
        with self._condition:
            if now is not None:
                self.last_release_at = now
            following = self._next_after(seat)
            if seat in self._seats:
                self._seats.remove(seat)
            if self._running is seat:
                self._running = None
            if self._turn is seat or self._turn not in self._seats:
                self._turn = following if following is not seat else None
            self._condition.notify_all()

    def _next_after(self, seat: Seat) -> Seat | None:
        if seat not in self._seats:
            return self._seats[0] if self._seats else None
        index = self._seats.index(seat)
        return self._seats[(index + 1) % len(self._seats)]


class Seat:
    """One generation's place in a :class:`Lockstep`."""

    def __init__(self, lockstep: Lockstep, name: str) -> None:
        self._lockstep = lockstep
        self.name = name
        self.busy_s = 0.0  # this seat's own time: its turns, each from the end of the one before
        self.steps = 0
        self._held_since: float | None = None  # when the current turn's cost started

    def acquire(self) -> None:
        asked_at = time.monotonic()
        self._lockstep._acquire(self)
        self._held_since = max(asked_at, self._lockstep.last_release_at)

    def release(self) -> None:
        now = time.monotonic()
        if self._held_since is not None:
            self.busy_s += now - self._held_since
            self._held_since = None
            self.steps += 1
        self._lockstep._release(self, now)

    def step(self) -> None:
        """End this seat's step and wait for its next turn."""
        self.release()
        self.acquire()

    def own_time_now(self) -> float:
        """Turn time so far, the current turn included."""
        held = time.monotonic() - self._held_since if self._held_since is not None else 0.0
        return self.busy_s + held

    def leave(self) -> None:
        now = time.monotonic()
        held = self._held_since is not None
        if held:
            self.busy_s += now - self._held_since
            self._held_since = None
        self._lockstep._leave(self, now if held else None)

    def __repr__(self) -> str:
        return f"Seat({self.name!r}, busy {self.busy_s:.3f} s, {self.steps} steps)"
