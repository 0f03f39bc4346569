"""The expert: a privileged, scripted interventionalist that follows the centerline path.

It reads the true device state and the vessel tree (not the images) and drives the lead device
with the manoeuvres a clinician uses with an angled wire, chosen by a small phase machine that
locates the tip on the vessel tree (branch and arc length):

- *travel*: advance with the angled tip pointing along the path (a look-ahead point); while
  passing the ostium of a branch that is not on the path, turn the tip away from it;
- *enter*: a few mm before the branch point of the next branch on the path, turn the tip toward
  the branch and advance slowly;
- *overshoot*: the tip went past that branch point: pull back slowly with the tip turned toward
  the branch so that it drops into the ostium;
- *retract*: the tip entered a wrong branch: pull back, turning the tip away, until the tip is
  back on the path before that branch point.

Rotation is closed-loop on the tip's bend direction (the distal tangent's component across the
shaft), so torque lag and whip are corrected step by step. Pushing slows down when the wall force
rises (the speed is a fraction of the device's maximum). In a coaxial pair (catheter, wire) the
wire leads past the ostia before the first branch on the path with the catheter behind it, the
catheter catches up over it and then leads, its own tip curve steered by the same phases, until
it engages that branch; then it holds and the wire leads out of it (``catheter_lead``; without
it the catheter follows a fixed distance behind the wire). Distances mm, angles rad, frame LPS,
forces N.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["ExpertAgent", "ExpertConfig"]


@dataclass(frozen=True)
class ExpertConfig:
    """Tuning of the expert.

    Speeds are fractions of the device's maximum translation speed; lengths mm; forces N;
    angles rad.
    """

    push: float = 0.2
    slow_push: float = 0.2
    retract: float = -0.3
    slow_retract: float = -0.1
    lookahead_mm: float = 12.0
    approach_mm: float = 25.0
    overshoot_mm: float = 6.0
    enter_depth_mm: float = 10.0
    avoid_window_mm: float = 14.0
    dash_window_mm: float = 40.0
    avoid_weight: float = 2.0
    avoid_push: float = 0.2
    retry_pushes: tuple[float, ...] = (1.0, 4.0, 2.5, 5.0)
    avoid_spin: float = 0.0
    retry_turns: tuple[float, ...] = (0.0, 1.2, -1.2, 0.6, -0.6)
    aim_tolerance_rad: float = 0.5
    rotate_gain: float = 0.6
    steer_deadband: float = 0.25
    flip_rad: float = 2.4
    max_rotate: float = 0.5
    force_soft_n: float = 0.8
    force_hard_n: float = 2.0
    shaft_back_mm: tuple[float, float] = (8.0, 14.0)
    catheter_shaft_back_mm: tuple[float, float] = (18.0, 26.0)
    retract_clear_mm: float = 25.0
    catheter_lag_mm: float = 25.0
    catheter_corotate: bool = False
    catheter_wait: bool = False
    anchor_mm: float = 30.0
    catheter_lead: bool = True
    lead_wire_mm: float = -3.0
    engage_mm: float = 5.0
    catheter_wrong_depth_mm: float = 6.0
    force_nodes: int = 20
    supported_aim_tolerance_rad: float = 1.6
    follow_gap_mm: float = float("inf")
    follow_lag_mm: float = 15.0
    max_accel: float = 0.1
    vary: bool = True
    patience: int = 60
    stuck_mm: float = 3.0
    unstick_steps: int = 12
    speed_spread: float = 0.15
    final_slowdown_mm: float = 60.0
    target_overshoot_mm: float = 3.0
    target_aim_mm: float = 10.0
    beyond_target_mm: float = 15.0
    pullback: float = -0.2
    backup: float = -0.15
    backup_mm: float = 3.0
    wrong_depth_mm: float = 0.0
    shallow_mm: float = 10.0
    enter_across: bool = True
    free_pass: bool = True


def _signed_angle(a: NDArray, b: NDArray, axis: NDArray) -> float:
    """Angle (rad) from ``a`` to ``b`` about ``axis`` (right-handed; vectors ⊥ axis)."""
    return float(np.arctan2(np.dot(np.cross(a, b), axis), np.dot(a, b)))


def _unit(v: NDArray) -> NDArray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-12 else v * 0.0


def _point_back(pts: NDArray, d: float) -> NDArray:
    """The point ``d`` mm behind the last of the polyline ``pts`` (along the polyline)."""
    rev = pts[::-1]
    back = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(rev, axis=0), axis=1))])
    return np.array([np.interp(d, back, rev[:, j]) for j in range(3)])


class _Route:
    """The vessel tree seen from the path to the target: where branch points lie, which to avoid.

    Every centerline point is a node with its branch and its arc length along that branch (mm).
    """

    def __init__(self, case) -> None:
        from scipy.spatial import cKDTree

        tree = case.tree  # rooted at the access site: branches run as the devices travel
        self.tree = tree
        self.chain: tuple[str, ...] = tuple(case.target_path.branches)
        self.path = case.target_path.resample(1.0)
        pts, names, s_local = [], [], []
        self.arclength: dict[str, NDArray] = {}
        for b in tree:
            s = np.concatenate(
                [[0.0], np.cumsum(np.linalg.norm(np.diff(b.points, axis=0), axis=1))]
            )
            self.arclength[b.name] = s
            pts.append(b.points)
            names += [b.name] * len(b.points)
            s_local.append(s)
        self.points = np.concatenate(pts)
        self.node_branch = np.array(names)
        self.node_s = np.concatenate(s_local)
        self._kd = cKDTree(self.points)
        # junction arc length on the parent, and the parent's radius there, for every child
        self.junction: dict[str, float] = {}
        self.parent_radius: dict[str, float] = {}
        for b in tree:
            if b.parent is not None:
                self.junction[b.name] = float(self.arclength[b.parent][b.parent_index])
                self.parent_radius[b.name] = float(tree[b.parent].radii[b.parent_index])
        # the branches leaving each path branch that are not on the path (to be avoided)
        self.target = np.asarray(case.target, dtype=np.float64)
        self.path_junction = {
            c: float(self.path.project(tree[c].points[:1])[0][0]) for c in self.chain[1:]
        }
        self.target_s = self.locate(np.asarray(case.target, dtype=np.float64))[1]
        self.distractors = {
            name: [c for c in tree.children(name) if c not in self.chain] for name in self.chain
        }

    def locate(self, p: NDArray) -> tuple[str, float]:
        """Branch holding ``p`` and the arc length (mm) along it of the nearest centerline point.

        A point near the first centerline points of a branch that still lie inside the parent's
        lumen (less deep than the parent's radius) belongs to the parent.
        """
        i = int(self._kd.query(p)[1])
        name, s = str(self.node_branch[i]), float(self.node_s[i])
        while name in self.parent_radius and s < self.parent_radius[name]:
            name = self.tree[name].parent
            m = self.node_branch == name
            j = int(np.argmin(np.linalg.norm(self.points[m] - p, axis=1)))
            s = float(self.node_s[m][j])
        return name, s

    def depth(self, branch: str, s: float) -> float:
        """How far (mm) arc length ``s`` on ``branch`` lies beyond its parent's wall."""
        return s - self.parent_radius.get(branch, 0.0)

    def point(self, branch: str, s: float) -> NDArray:
        """The centerline point at arc length ``s`` (clamped) on ``branch``."""
        b = self.tree[branch]
        a = self.arclength[branch]
        s = float(np.clip(s, 0.0, a[-1]))
        return np.array([np.interp(s, a, b.points[:, j]) for j in range(3)])

    def direction(self, branch: str, s: float, span: float = 6.0) -> NDArray:
        """Unit centerline direction (distal) on ``branch`` around arc length ``s``."""
        return _unit(self.point(branch, s + span) - self.point(branch, s))

    def away_from(self, child: str, turn: float = 0.0) -> NDArray | None:
        """Direction across the parent's axis pointing away from ``child``'s ostium (or None
        when the child leaves nearly straight ahead), turned by ``turn`` rad about that axis."""
        parent = self.tree[child].parent
        t = self.direction(parent, self.junction[child] - 3.0)
        d = self.direction(child, 0.0)
        side = d - np.dot(d, t) * t
        if np.linalg.norm(side) < 0.3:
            return None
        a = -_unit(side)
        return np.cos(turn) * a + np.sin(turn) * np.cross(t, a)

    def ancestor_on_chain(self, branch: str) -> tuple[str, str]:
        """(path branch, its child toward ``branch``) for a branch off the path."""
        line = self.tree.lineage(branch)
        for k in range(len(line) - 1, -1, -1):
            if line[k] in self.chain:
                return line[k], line[k + 1]
        return self.chain[0], line[0]  # pragma: no cover - the root is always on the chain

    def path_point(self, s: float) -> NDArray:
        """The path point at path arc length ``s`` (clamped)."""
        p = self.path
        s = float(np.clip(s, 0.0, p.length))
        return np.array([np.interp(s, p.arclength, p.points[:, j]) for j in range(3)])

    def entry_point(self, child: str, depth: float) -> NDArray:
        """The path point ``depth`` mm beyond the parent's wall in path branch ``child``."""
        return self.path_point(self.path_junction[child] + self.parent_radius[child] + depth)

    def aim(self, tip: NDArray, branch: str, s: float, ahead: float, depth: float) -> NDArray:
        """Look-ahead point on the path; just past a branch point, at least its entry point."""
        sp = float(self.path.project(tip[None])[0][0]) + ahead
        if branch in self.path_junction and s < self.parent_radius[branch] + depth:
            sp = max(sp, self.path_junction[branch] + self.parent_radius[branch] + depth)
        return self.path_point(sp)


class ExpertAgent:
    """Privileged scripted path follower for an :class:`InterventionEnv`.

    Parameters
    ----------
    env : gymnasium.Env
        The env (wrappers allowed); the expert reads ``env.unwrapped.world`` and ``.case``.
    config : ExpertConfig, optional
    """

    def __init__(self, env, config: ExpertConfig | None = None) -> None:
        self.env = env
        self.cfg = config or ExpertConfig()
        self._route: _Route | None = None
        self._route_for = None
        self.reset()

    def reset(self) -> None:
        """Forget the manoeuvre in progress (call after env.reset)."""
        self._retract_from: str | None = None
        self._trans = 0.0
        self._final_mode = "advance"
        self._backup_from: str | None = None
        self.phase = "travel"
        self._rng: np.random.Generator | None = None
        self._anchor: NDArray | None = None
        self._attempts: dict[str, int] = {}
        self._rot_sign = 1.0
        self._still = 0
        self._unstick = 0
        self._unstick_turn = 0.0
        self._speed = 1.0
        self._roll_left = 0.0
        self._anchored = False
        self._entering = False
        self._free = False
        self._stage = "approach"

    # ------------------------------------------------------------------ helpers
    def _start_episode(self, env) -> None:
        """Draw this episode's style (initial roll, speed) from the env's seeded generator.

        The generator's state is read, not advanced, so the env's own draws are unchanged and
        the same ``reset(seed=...)`` gives the same episode.
        """
        cfg = self.cfg
        import zlib

        state = env.np_random.bit_generator.state
        self._rng = np.random.default_rng(zlib.crc32(repr(state).encode()))
        if cfg.vary:
            self._roll_left = float(self._rng.uniform(-np.pi, np.pi))
            self._speed = float(self._rng.uniform(1.0 - cfg.speed_spread, 1.0 + cfg.speed_spread))

    def _get_route(self, env) -> _Route:
        if self._route_for is not env.case:
            self._route = _Route(env.case)
            self._route_for = env.case
        return self._route  # type: ignore[return-value]

    def _catheter_command(self, env) -> float:
        dt = env.scenario.dt
        ins = np.asarray(env.world.state.rod.inserted_length[0], dtype=np.float64)
        gap = ins[-1] - ins[0] - self.cfg.catheter_lag_mm
        if self.cfg.catheter_wait and self._entering and not self._anchored:
            gap = min(gap, 0.0)  # the catheter waits until the wire is anchored in the branch
        vmax_c = env.case.devices[0].max_translation_speed
        return float(np.clip(gap / (vmax_c * dt), -1.0, 1.0))

    def _full_action(self, env, lead: tuple[float, float]) -> NDArray[np.float32]:
        D = len(env.case.devices)
        action = np.zeros(env.action_space.shape, np.float32)
        if D == 2 and self._catheter_leads(env) and self._stage != "approach":
            return self._coaxial_action(env, lead)
        action[2 * (D - 1) : 2 * D] = lead
        if D == 2:
            action[0] = self._catheter_command(env)
            if self._anchored and action[0] > 0.05 and lead[0] > 0:
                action[2 * (D - 1)] = 0.0  # hold the wire while the catheter follows it
            if self.cfg.catheter_corotate:  # turn the catheter's curve with the wire's
                w = env.case.devices
                action[1] = lead[1] * w[1].max_rotation_speed / w[0].max_rotation_speed
        return np.clip(action, -1.0, 1.0)

    # ------------------------------------------------------------------ coaxial pair
    def _catheter_leads(self, env) -> bool:
        return len(env.case.devices) == 2 and self.cfg.catheter_lead

    @staticmethod
    def _gap(env) -> float:
        """How far (mm) the wire's tip leads the catheter's (inserted lengths)."""
        ins = env.world.state.rod.inserted_length[0]
        return float(ins[-1] - ins[0])

    def _update_stage(self, env, route: _Route) -> None:
        """Catheter-led selection: which device leads now.

        - *approach*: the wire leads with the catheter ``catheter_lag_mm`` behind (as without
          this phase) until the wire's tip is past the last ostium before the first branch on
          the path (a straight wire passes ostia better than the curved catheter);
        - *catch*: the catheter advances over the held wire to its tip (not steered);
        - *cath*: the catheter leads, steered like an angled wire by its own tip curve, with
          the wire's tip held just inside it (the curve free, not straightened);
        - *wire*: once the catheter's tip is ``engage_mm`` into the first branch on the path,
          it holds and the wire leads out of it;
        - *follow*: once the wire leads by ``follow_gap_mm``, the wire holds and the catheter
          advances over it to ``follow_lag_mm`` behind its tip.

        A catheter that falls back into the parent goes back to *cath*.
        """
        cfg = self.cfg
        ctip = np.asarray(env.world.state.rod.tip_position[0, 0], dtype=np.float64)
        cb, cs = route.locate(ctip)
        stage = self._stage
        gap = self._gap(env)
        if len(route.chain) < 2:
            stage = "wire" if stage in ("approach", "cath") else stage
        elif stage == "approach":
            wb, ws = route.locate(np.asarray(env.world.state.rod.tip_position[0, -1], float))
            if wb in route.chain[1:] or (wb == route.chain[0] and ws >= self._clear_s(route)):
                stage = "catch"
        elif stage == "catch":
            if gap <= cfg.lead_wire_mm + 1.0:
                stage = "cath"
        elif stage == "cath":
            k = route.chain.index(cb) if cb in route.chain else 0
            if k > 1 or (k == 1 and route.depth(cb, cs) >= cfg.engage_mm):
                stage = "wire"
        elif cb == route.chain[0]:
            stage = "cath"
        elif stage == "wire" and gap > cfg.follow_gap_mm:
            stage = "follow"
        elif stage == "follow" and gap < cfg.follow_lag_mm:
            stage = "wire"
        if stage != self._stage:
            self._stage = stage
            self._anchor, self._still, self._trans = None, 0, 0.0
            self._backup_from, self._retract_from = None, None
            self._final_mode = "advance"

    def _clear_s(self, route: _Route) -> float:
        """Arc length on the first path branch past its last ostium before the next one."""
        J = route.junction[route.chain[1]]
        start = J - self.cfg.approach_mm
        for d in route.distractors[route.chain[0]]:
            if route.junction[d] < J:
                start = max(start, route.junction[d] + route.tree[d].radii[0] + 2.0)
        return start

    def _coaxial_action(self, env, lead: tuple[float, float]) -> NDArray[np.float32]:
        cfg = self.cfg
        dev = env.case.devices
        dt = env.scenario.dt
        gap = self._gap(env)
        action = np.zeros(env.action_space.shape, np.float32)
        if self._stage == "cath":
            action[0:2] = lead
            action[2] = (cfg.lead_wire_mm - gap) / (dev[1].max_translation_speed * dt)
        elif self._stage == "catch":
            c = (gap - cfg.lead_wire_mm) / (dev[0].max_translation_speed * dt)
            action[0] = min(c, cfg.push * self._speed)
        elif self._stage == "wire":
            action[2:4] = lead
        else:  # follow: the catheter advances over the held wire
            action[3] = lead[1]
            if lead[0] < 0:
                action[2] = lead[0]
            else:
                c = (gap - cfg.follow_lag_mm) / (dev[0].max_translation_speed * dt)
                action[0] = min(c, cfg.push * self._speed)
        return np.clip(action, -1.0, 1.0)

    def _rotation(
        self, env, bend: NDArray, shaft: NDArray, want: NDArray | None, lead: int = -1
    ) -> tuple[float, float]:
        """(rotation command, aiming error in rad) that turns the bend toward ``want``.

        Only the part of ``want`` across the shaft can be steered; when ``want`` lies nearly
        along the shaft the bend's direction does not matter and the tip is not turned.
        """
        if want is None or np.linalg.norm(bend) < 1e-3:
            return 0.0, 0.0
        want = _unit(want)
        w = want - np.dot(want, shaft) * shaft
        frac = float(np.linalg.norm(w))
        if frac < self.cfg.steer_deadband:
            return 0.0, 0.0
        err = _signed_angle(bend, w, shaft)
        if abs(err) > self.cfg.flip_rad and err * self._rot_sign < 0:
            err = -err  # nearly opposite: keep turning the same way instead of dithering
        self._rot_sign = 1.0 if err >= 0 else -1.0
        dev = env.case.devices[lead]
        per_step = dev.max_rotation_speed * env.scenario.dt  # rad per step at full speed
        gain = self.cfg.rotate_gain * min(1.0, frac / (2.0 * self.cfg.steer_deadband))
        cmd = float(np.clip(gain * err / per_step, -self.cfg.max_rotate, self.cfg.max_rotate))
        return cmd, abs(err) * min(1.0, frac / (2.0 * self.cfg.steer_deadband))

    # ------------------------------------------------------------------ policy
    def _tip_frame(self, env, lead: int = -1):
        """(tip, shaft direction, bend vector, max wall force) of device ``lead``."""
        rod = env.world.state.rod
        lead = lead % rod.positions.shape[1]
        pts = rod.positions[0, lead][rod.node_mask[0, lead]]
        tip = np.asarray(rod.tip_position[0, lead], dtype=np.float64)
        tdir = np.asarray(rod.tip_direction[0, lead], dtype=np.float64)
        b0, b1 = self.cfg.shaft_back_mm
        if lead == 0 and rod.positions.shape[1] == 2:
            b0, b1 = self.cfg.catheter_shaft_back_mm  # behind the catheter's tip curve
        shaft = _unit(_point_back(pts, b0) - _point_back(pts, b1))
        bend = tdir - np.dot(tdir, shaft) * shaft
        if rod.positions.shape[1] == 2 and self.cfg.catheter_lead and self._stage != "approach":
            # the lead device's distal part: a catheter looped in the arch presses the wall
            n = self.cfg.force_nodes
            if lead == 1:  # not the wire's exit from the catheter (a clamp-and-wall spike)
                spacing = float(env.world.rods.node_spacing)
                n = int(np.clip((self._gap(env) - 8.0) / spacing, 2, n))
            nodes = np.flatnonzero(rod.node_mask[0, lead])[-n:]
            return tip, shaft, bend, float(np.max(rod.contact_force[0, lead, nodes]))
        return tip, shaft, bend, float(np.max(rod.contact_force[0]))

    def _decide(self, route: _Route, tip: NDArray, branch: str, s: float):
        """(phase, wanted bend direction or None, translation) for the tip at ``s`` on ``branch``."""
        cfg = self.cfg
        avoid, dash = None, 1.0
        self._free = False
        for d in route.distractors[branch]:
            j, r = route.junction[d], route.tree[d].radii[0]
            n = self._attempts.get(d, 0)
            window = cfg.avoid_window_mm if n == 0 else cfg.dash_window_mm
            if j - r - window <= s <= j + r + 2.0:
                turns = cfg.retry_turns
                self._free = n > 0 and cfg.free_pass
                avoid = route.away_from(d, turns[n % len(turns)])
                dash = cfg.retry_pushes[n % len(cfg.retry_pushes)]
        k = route.chain.index(branch)
        if k == len(route.chain) - 1:
            return self._final(route, tip, branch, s, avoid)
        shallow = self._shallow(route, branch, s, avoid)
        if shallow is not None:
            return "enter", shallow, cfg.slow_push
        nxt = route.chain[k + 1]
        J = route.junction[nxt]
        start = J - cfg.approach_mm
        for d in route.distractors[branch]:
            jd = route.junction[d]
            if jd < J:
                start = max(start, jd + route.tree[d].radii[0] + 2.0)
        entry = route.entry_point(nxt, cfg.enter_depth_mm) - tip
        if cfg.enter_across:
            toward = route.away_from(nxt, np.pi)
            if toward is not None:
                entry = toward
        if s < start:
            want = _unit(route.aim(tip, branch, s, cfg.lookahead_mm, cfg.enter_depth_mm) - tip)
            if avoid is not None:  # still along the path when jammed against the ostium's rim
                if cfg.avoid_spin:
                    return "spin", None, cfg.avoid_push * dash
                return "pass", want + cfg.avoid_weight * avoid, cfg.avoid_push * dash
            return "travel", want, cfg.push
        if self._backup_from == nxt and s < J - cfg.backup_mm:
            self._backup_from = None
        if s > J + cfg.overshoot_mm:
            self._backup_from = nxt
        if self._backup_from == nxt:  # past the branch point: pull back with the tip toward it
            return "overshoot", entry, cfg.backup
        return "enter", entry, cfg.slow_push

    def _shallow(self, route: _Route, branch: str, s: float, avoid) -> NDArray | None:
        """Wanted bend just inside the ostium of path branch ``branch`` (None when deeper).

        Pushed with the bend along the path, a tip that has only just dropped into an ostium
        slides back out along the parent's wall; keeping the bend up the branch (across the
        parent's axis) lets the shaft follow it in.
        """
        if branch not in route.junction or route.depth(branch, s) >= self.cfg.shallow_mm:
            return None
        toward = route.away_from(branch, np.pi)
        if toward is not None and avoid is not None:
            toward = toward + self.cfg.avoid_weight * avoid
        return toward

    def _final(self, route: _Route, tip: NDArray, branch: str, s: float, avoid):
        """In the target's branch: go a little beyond the target, then pull back through it.

        Pushed in, the wire keeps slack in the arch and its tip rides the wall; pulled back
        once it lies taut, the tip comes back along the lumen and crosses the target.
        """
        cfg = self.cfg
        end = route.arclength[branch][-1]
        beyond = min(route.target_s + cfg.beyond_target_mm, end - 2.0)
        for d in route.distractors[branch]:
            if route.junction[d] > route.target_s:
                beyond = min(beyond, route.junction[d] - route.tree[d].radii[0] - 1.0)
        beyond = max(beyond, route.target_s + 2.0)
        if self._final_mode == "advance" and s >= beyond:
            self._final_mode = "pullback"
        elif self._final_mode == "pullback" and s < route.target_s - cfg.target_aim_mm:
            self._final_mode = "advance"
        if self._final_mode == "pullback":
            want = route.point(branch, s) - tip  # bend toward the lumen centre
            if np.linalg.norm(want) < 1.0:
                want = None
            return "pullback", want, cfg.pullback
        shallow = self._shallow(route, branch, s, avoid)
        if shallow is not None:
            return "final", shallow, cfg.slow_push
        want = route.aim(tip, branch, s, cfg.lookahead_mm, cfg.enter_depth_mm) - tip
        if s > route.target_s - cfg.lookahead_mm:
            want = route.point(branch, s + cfg.lookahead_mm) - tip
        if avoid is not None:
            want = _unit(want) + cfg.avoid_weight * avoid
        speed = float(np.clip((beyond - s) / cfg.final_slowdown_mm, cfg.slow_push, cfg.push))
        return "final", want, speed

    def act(self, observation=None) -> NDArray[np.float32]:
        """The next normalised action for the env's action space."""
        env = self.env.unwrapped
        cfg = self.cfg
        route = self._get_route(env)
        if self._rng is None:
            self._start_episode(env)
        lead = -1
        if self._catheter_leads(env):
            self._update_stage(env, route)
            lead = 0 if self._stage == "cath" else -1
        tip, shaft, bend, force = self._tip_frame(env, lead)
        branch, s = route.locate(tip)
        self._entering = self.phase in ("enter", "overshoot") or branch in route.chain[1:]
        if len(route.chain) > 1 and branch in route.chain[1:]:
            k = route.chain.index(branch)
            deep = k > 1 or route.depth(branch, s) >= cfg.anchor_mm
            self._anchored = self._anchored or deep
        elif branch == route.chain[0]:
            self._anchored = False
        if branch not in route.chain and self._retract_from is None:
            host, child = route.ancestor_on_chain(branch)
            mouth = cfg.catheter_wrong_depth_mm if lead == 0 else cfg.wrong_depth_mm
            if branch == child and route.depth(branch, s) <= mouth:
                branch, s = host, route.junction[child]  # only in the ostium's mouth
        if branch not in route.chain and self._retract_from is None:
            self._retract_from = route.ancestor_on_chain(branch)[1]
            d = self._retract_from  # next pass: try another side of that ostium
            self._attempts[d] = self._attempts.get(d, 0) + 1
        if self._retract_from is not None:
            child = self._retract_from
            host = route.tree[child].parent
            back_on_path = branch in route.chain and (
                branch != host or s < route.junction[child] - cfg.retract_clear_mm
            )
            if back_on_path:
                self._retract_from = None
                k = route.chain.index(branch)
                if (
                    k + 1 < len(route.chain)
                    and route.junction.get(child, -1.0) > route.junction[route.chain[k + 1]]
                ):  # it had gone past the next branch on the path: back up to that one
                    self._backup_from = route.chain[k + 1]
        if self._anchor is None or np.linalg.norm(tip - self._anchor) > cfg.stuck_mm:
            self._anchor, self._still = tip.copy(), 0
        else:
            self._still += 1
        if self._still > cfg.patience and self._unstick == 0:
            self._unstick = cfg.unstick_steps  # the tip has not moved for a while: back off
            self._still = 0
            self._unstick_turn = float(self._rng.choice([-1.0, 1.0]) * self._rng.uniform(0.1, 0.25))
        # a pull the grip cannot transmit (the tip is hooked): ease off instead of pulling on
        rods = env.world.rods
        pulled = (
            float(env.world.state.rod.proximal_force[0, lead]) <= -0.9 * rods.max_proximal_force
        )
        if self._unstick > 0:
            self._unstick -= 1
            self.phase = "unstick"
            self._final_mode = "advance"
            self._backup_from = None
            want_t = -cfg.slow_retract if pulled else cfg.retract
            trans = float(np.clip(want_t, self._trans - cfg.max_accel, self._trans + cfg.max_accel))
            self._trans = trans
            return self._full_action(env, (trans, self._unstick_turn))
        if self._retract_from is not None:
            self.phase = "retract"
            want = route.away_from(self._retract_from)
            trans = cfg.retract
        else:
            self.phase, want, trans = self._decide(route, tip, branch, s)
        rot, err = self._rotation(env, bend, shaft, want, lead)
        if self.phase == "spin":
            rot = cfg.avoid_spin
        if self._roll_left and self.phase == "travel":  # the episode's initial roll
            per_step = env.case.devices[lead].max_rotation_speed * env.scenario.dt
            step = float(
                np.clip(self._roll_left, -cfg.max_rotate * per_step, cfg.max_rotate * per_step)
            )
            self._roll_left -= step
            rot = step / per_step
        if trans > 0:
            trans *= self._speed
            gated = not (self._free and self.phase == "pass")
            tol = cfg.aim_tolerance_rad
            if self._catheter_leads(env) and self._stage in ("wire", "follow"):
                tol = cfg.supported_aim_tolerance_rad  # out of an engaged catheter
            if gated and err > tol:
                trans = min(trans, 0.03)
            if force > cfg.force_hard_n:
                trans = -0.05
            elif gated and force > cfg.force_soft_n:
                trans = min(trans, cfg.slow_push * 0.5)
        if pulled and trans < 0:
            trans = -cfg.slow_retract  # the hooked tip comes free when the pull is released
        trans = float(np.clip(trans, self._trans - cfg.max_accel, self._trans + cfg.max_accel))
        self._trans = trans
        return self._full_action(env, (trans, rot))
