"""The parametric shower generator: showers of e-, gamma, pi0 and charged pions in any geometry.

Energies written are what the read-out reports. Each shower deposits its energy as spots;
spots are binned into the cells (energy outside the window or behind the stack is *leakage*,
stored in the ``leakage`` label in GeV). Each cell's deposited energy e is then given sampling
(or photo-statistics) fluctuations with the layer's stochastic term a (see
:func:`~.stack.stochastic_terms`), as a Gamma variate of mean e and variance a^2 e GeV (as
Geant4 GFlash's ``ApplySampling``), so the calibrated sum has sigma/E = a/sqrt(E). For sampling
layers the stored energy is the *visible* energy, the sampling fraction times that (as in the
CaloGAN and CLIC datasets): divide by the sampling fraction to calibrate. Optional Gaussian
noise per cell and a zero-suppression threshold (visible MeV) follow.

Pion showers are given at the electromagnetic scale: the hadronic component deposits
(1 - f_em) E h/e, the rest is invisible (nuclear binding), not leakage.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from calogeo import CalogeoError, Geometry, Showers, get_geometry
from calogeo.incident import energy_array
from calogeo.model import Model

from . import em, hadronic
from .kernels import deposit_spots, read_out, seed_kernels
from .pi0 import M_PI0_GEV, decay_pi0, entry_points
from .stack import Deposits, Stack, allocate_spots, build_stack, gamma_fractions

__all__ = ["PARTICLES", "GFlashSimulator"]

PARTICLES: dict[str, int] = {"e-": 11, "e+": -11, "gamma": 22, "pi0": 111, "pi+": 211, "pi-": -211}
"""Particles the simulator knows, with their PDG ids."""

MAX_THETA_RAD = 1.4  # beyond ~80 degrees the shower runs along the layers, not through them
MIN_PHOTON_COS = 0.05  # a decay photon this close to the layer plane misses the window


@dataclass(frozen=True)
class _Tracks:
    """Incident particles of one batch: event row, energy (GeV), direction and entry point."""

    event: np.ndarray
    energy: np.ndarray
    theta: np.ndarray
    phi: np.ndarray
    x_mm: np.ndarray
    y_mm: np.ndarray

    @property
    def stretch(self) -> np.ndarray:
        """Path length along the axis per unit depth, 1/cos(theta)."""
        return 1.0 / np.cos(self.theta)

    def select(self, mask: np.ndarray) -> _Tracks:
        return _Tracks(*(a[mask] for a in self.__dict__.values()))


def _per_particle(value: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    """``value`` broadcast to ``shape`` as a new float64 array; a CalogeoError if it cannot be."""
    try:
        return np.broadcast_to(np.asarray(value, dtype=np.float64), shape).copy()
    except (TypeError, ValueError) as exc:
        msg = f"{name}: expected a scalar or shape {shape}, got {np.shape(value)}"
        raise CalogeoError(msg) from exc


class GFlashSimulator(Model):
    """Parametric showers in any registered geometry (a generative :class:`~calogeo.model.Model`
    with nothing to train).

    ``GFlashSimulator(geometry, seed=1).simulate("gamma", energies, theta=0.1)`` returns
    :class:`~calogeo.Showers` with labels ``pdg``, ``theta``, ``phi`` (rad), ``impact_x``,
    ``impact_y`` (mm), ``leakage`` (GeV), ``start_depth_mm`` (depth along the window axis
    where the first shower starts: photon conversion, pion interaction; NaN if none starts
    inside the stack) and, for pi0, ``opening_angle`` (rad).
    ``simulate_bunches("e+", energies, counts)`` makes events of several particles each, with
    labels ``pdg``, ``multiplicity``, ``energy_mean_gev``, ``energy_rms_gev`` and ``leakage``.
    Hyper-parameters: ``seed``; ``noise_mev``, the Gaussian noise per cell, and
    ``threshold_mev``, the zero suppression (cells below are set to 0), both in visible MeV;
    ``max_step_x0``, the longest longitudinal integration step.
    """

    name = "gflash"
    description = (
        "Parametric showers: GFlash electromagnetic profiles, pi0 -> two photons, "
        "Bock hadronic profile for charged pions; any geometry"
    )
    kind = ("generate",)
    defaults: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        size: {"seed": None, "noise_mev": 0.0, "threshold_mev": 0.0, "max_step_x0": 0.5}
        for size in ("paper", "small")
    }
    particles = tuple(PARTICLES)

    def __init__(
        self,
        geometry: Geometry | str,
        hparams: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        merged = {**self.defaults["paper"], **(hparams or {}), **options}
        unknown = sorted(set(merged) - set(self.defaults["paper"]))
        if unknown:
            msg = f"model {self.name!r} has no option {', '.join(unknown)}"
            raise CalogeoError(msg)
        super().__init__(get_geometry(geometry), merged)
        self.stack: Stack = build_stack(self.geometry, max_step_x0=float(merged["max_step_x0"]))
        self.rng = np.random.default_rng(merged["seed"])
        self.noise_gev = float(merged["noise_mev"]) / 1000.0
        self.threshold_gev = float(merged["threshold_mev"]) / 1000.0

    # -- public API ----------------------------------------------------------------------------

    BYTES_PER_PARTICLE_STEP = 144
    """Peak working memory per simulated particle and longitudinal step, a lower bound: 147-297
    bytes measured with tracemalloc for e-, pi+ and pi0 (two photons) in CLIC's ECAL and a
    3-layer tungsten stack, 20,000 particles per batch."""

    def memory_bytes(self, n_particles: int, n_events: int) -> int:
        """A lower bound of the bytes one call simulating ``n_particles`` particles into
        ``n_events`` events allocates: the per-step tables of every particle and two (N, cells)
        float32 arrays, so callers can refuse batches that cannot fit before allocating."""
        steps = self.stack.n_steps
        return int(
            n_particles * steps * self.BYTES_PER_PARTICLE_STEP
            + 2 * n_events * self.geometry.n_cells * 4
        )

    def fork(self, seed: int | np.random.SeedSequence | None) -> GFlashSimulator:
        """A simulator sharing this one's geometry tables and options, with its own random
        stream (for simulating batches in parallel threads)."""
        clone = copy.copy(self)
        clone.rng = np.random.default_rng(seed)
        return clone

    def simulate(
        self,
        particle: str,
        energies: float | Sequence[float] | np.ndarray,
        *,
        theta: float | np.ndarray = 0.0,
        phi: float | np.ndarray = 0.0,
        impact_mm: tuple[float, float] | np.ndarray | None = None,
    ) -> Showers:
        """Showers of ``particle`` (one of :data:`PARTICLES`) with incident ``energies`` (GeV),
        direction ``theta``/``phi`` (rad, scalars or per event) and entry point ``impact_mm``
        ((x, y) or (N, 2) in mm; default: the geometry's anchor)."""
        tracks = self._tracks(particle, energies, theta, phi, impact_mm)
        n = len(tracks.event)
        labels: dict[str, np.ndarray] = {}
        cells, leak, start = self._events(particle, tracks, n, labels)
        labels = {
            "pdg": np.full(n, PARTICLES[particle], dtype=np.int32),
            "theta": tracks.theta.astype(np.float32),
            "phi": tracks.phi.astype(np.float32),
            "impact_x": tracks.x_mm.astype(np.float32),
            "impact_y": tracks.y_mm.astype(np.float32),
            "leakage": leak.astype(np.float32),
            "start_depth_mm": start.astype(np.float32),
            **labels,
        }
        return Showers.from_flat(self.geometry, cells, tracks.energy, labels)

    def simulate_bunches(
        self,
        particle: str,
        energies: float | Sequence[float] | np.ndarray,
        counts: Sequence[int] | np.ndarray,
        *,
        theta: float | np.ndarray = 0.0,
        phi: float | np.ndarray = 0.0,
        impact_mm: tuple[float, float] | np.ndarray | None = None,
    ) -> Showers:
        """Events of several particles each ("bunches", as the positrons of one LUXE bunch
        crossing): event i holds ``counts[i]`` >= 1 particles of type ``particle``.

        ``energies`` (GeV), ``theta``/``phi`` (rad) and ``impact_mm`` ((x, y) in mm), where
        given per particle, hold sum(counts) values (impact: (sum(counts), 2)), event by event:
        the particles of event 0, then those of event 1, ...; a scalar, or a single (x, y),
        applies to every particle (default entry point: the geometry's anchor). Every particle
        showers on its own (in one pass over all particles of the batch); the cells hold the
        sum.

        The showers' ``incident_energy`` is the summed particle energy of each event (GeV);
        labels: ``pdg``, ``multiplicity`` (= counts), ``energy_mean_gev`` and
        ``energy_rms_gev`` (mean and standard deviation of the event's particle energies, GeV:
        the first moment and the square root of the second central moment, as the LUXE ECAL
        study's per-event moments), and ``leakage`` (GeV, summed over the particles). The
        per-particle labels of :meth:`simulate` (angles, impact point, start depth, pi0 opening
        angle) have no single value per event and are left out.
        """
        count = np.asarray(counts)
        if count.ndim != 1 or (count.size and count.dtype.kind not in "iu"):
            msg = f"counts: expected a 1-d array of whole numbers, got {count.dtype} {count.shape}"
            raise CalogeoError(msg)
        if np.any(count < 1):
            msg = f"counts must be at least 1 particle per event (smallest: {count.min()})"
            raise CalogeoError(msg)
        n = len(count)
        event = np.repeat(np.arange(n), count.astype(np.int64))
        tracks = self._tracks(particle, energies, theta, phi, impact_mm, event)
        cells, leak, _ = self._events(particle, tracks, n, {})
        total = np.bincount(event, tracks.energy, minlength=n)
        mean = total / count
        variance = np.bincount(event, (tracks.energy - mean[event]) ** 2, minlength=n)
        labels = {
            "pdg": np.full(n, PARTICLES[particle], dtype=np.int32),
            "multiplicity": count.astype(np.int32),
            "energy_mean_gev": mean.astype(np.float32),
            "energy_rms_gev": np.sqrt(variance / count).astype(np.float32),
            "leakage": leak.astype(np.float32),
        }
        return Showers.from_flat(self.geometry, cells, total, labels)

    def generate(
        self,
        energies: float | Sequence[float] | np.ndarray,
        particle: str = "gamma",
        n: int | None = None,
        **options: Any,
    ) -> Showers:
        """Model interface: showers of ``particle`` at ``energies`` (GeV); a scalar energy with
        ``n`` gives ``n`` showers. ``options``: ``theta``, ``phi``, ``impact_mm`` of
        :meth:`simulate`."""
        energy = energy_array(energies, n)
        return self.simulate(particle, energy, **options)

    # -- events ------------------------------------------------------------------------------

    def _tracks(
        self,
        particle: str,
        energies: float | Sequence[float] | np.ndarray,
        theta: float | np.ndarray,
        phi: float | np.ndarray,
        impact_mm: tuple[float, float] | np.ndarray | None,
        event: np.ndarray | None = None,
    ) -> _Tracks:
        """Checked incident particles; ``event`` is each one's event row (default: one
        particle per event)."""
        if particle not in PARTICLES:
            msg = f"particle {particle!r}: expected one of {', '.join(PARTICLES)}"
            raise CalogeoError(msg)
        energy = np.atleast_1d(np.asarray(energies, dtype=np.float64))
        if event is None:
            event = np.arange(len(energy))
        elif np.ndim(energies) == 0:
            energy = np.full(len(event), energy[0])
        elif energy.shape != event.shape:
            msg = f"energies: expected sum(counts) = {len(event)} values, got {energy.shape}"
            raise CalogeoError(msg)
        if not np.all(np.isfinite(energy) & (energy > 0)):
            msg = "energies must be positive (GeV)"
            raise CalogeoError(msg)
        if particle == "pi0" and np.any(energy < M_PI0_GEV):
            msg = f"pi0 energies must be at least its mass, {M_PI0_GEV} GeV"
            raise CalogeoError(msg)
        n = len(energy)
        polar = _per_particle(theta, (n,), "theta")
        if np.any((polar < 0) | (polar > MAX_THETA_RAD)):
            msg = f"theta must be in [0, {MAX_THETA_RAD}] rad"
            raise CalogeoError(msg)
        azimuth = _per_particle(phi, (n,), "phi")
        impact = self.geometry.anchor_mm if impact_mm is None else impact_mm
        xy = _per_particle(impact, (n, 2), "impact_mm")
        return _Tracks(event, energy, polar, azimuth, xy[:, 0].copy(), xy[:, 1].copy())

    def _events(
        self, particle: str, tracks: _Tracks, n_events: int, labels: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Read-out cells (n_events, n_cells) of the showers of ``tracks``, summed per event,
        with each event's leakage (GeV) and the depth where its first shower starts (mm, NaN
        if none); per-particle labels (pi0 opening angle) go into ``labels``."""
        deposits, leak = self._showers(particle, tracks, n_events, labels)
        # The Numba kernels draw from their own (per-thread) generator, seeded from ours.
        seed_kernels(int(self.rng.integers(2**31)))
        cells, spilled = self._bin(deposits, n_events)
        leak += spilled
        start = np.full(n_events, np.nan)
        np.fmin.at(start, deposits.event, deposits.start_mm)
        stack = self.stack
        terms, scaled, scale = (
            stack.cell_em_term,
            np.zeros(stack.cell_em_term.shape, bool),
            np.ones(n_events),
        )
        if particle in ("pi+", "pi-"):
            # A stated hadron term is sigma/E of the calibrated pion energy: an EM-scale deposit
            # e gets variance a^2 R e, R the mean pion response, so sigma(E_dep / R) = a sqrt(E).
            # An event of several pions takes R at their mean energy (R varies slowly with E).
            per_event = np.maximum(np.bincount(tracks.event, minlength=n_events), 1)
            mean_energy = np.bincount(tracks.event, tracks.energy, minlength=n_events) / per_event
            terms, scaled = stack.cell_pion_term, stack.cell_hadron_stated
            scale = hadronic.mean_response(mean_energy)
        read_out(
            cells, terms, scale, scaled, stack.cell_sampling_fraction, self.noise_gev,
            self.threshold_gev,
        )  # fmt: skip
        return cells, leak, start

    # -- particles -----------------------------------------------------------------------------

    def _showers(
        self, particle: str, tracks: _Tracks, n_events: int, labels: dict[str, np.ndarray]
    ) -> tuple[Deposits, np.ndarray]:
        """Sub-showers of every track, and per-event energy lost before any spot is made."""
        leak = np.zeros(n_events)
        if particle in ("e-", "e+"):
            return self._em(tracks, np.zeros(len(tracks.event))), leak
        if particle == "gamma":
            return self._photons(tracks), leak
        if particle == "pi0":
            return self._pi0(tracks, labels, leak), leak
        return self._pion(tracks, leak), leak

    def _photons(self, tracks: _Tracks) -> Deposits:
        """Photons convert after an exponential depth of mean 9/7 X0 along their path."""
        start = self.rng.exponential(em.PHOTON_CONVERSION_X0, len(tracks.event))
        return self._em(tracks, start)

    def _pi0(self, tracks: _Tracks, labels: dict[str, np.ndarray], leak: np.ndarray) -> Deposits:
        """Two photons from the interaction point, landing where their directions take them."""
        pair = decay_pi0(tracks.energy, tracks.theta, tracks.phi, self.rng)
        labels["opening_angle"] = pair.opening_angle.astype(np.float32)
        entry = entry_points(
            np.stack([tracks.x_mm, tracks.y_mm], 1),
            tracks.theta,
            tracks.phi,
            pair.direction,
            self.geometry.distance_from_ip_mm,
        ).reshape(-1, 2)
        d = pair.direction.reshape(-1, 3)
        hits = d[:, 2] > MIN_PHOTON_COS
        event = np.repeat(tracks.event, 2)
        np.add.at(leak, event[~hits], pair.energy.ravel()[~hits])
        photons = _Tracks(
            event,
            pair.energy.ravel(),
            np.arccos(np.clip(d[:, 2], -1.0, 1.0)),
            np.arctan2(d[:, 1], d[:, 0]),
            entry[:, 0],
            entry[:, 1],
        )
        return self._photons(photons.select(hits))

    def _pion(self, tracks: _Tracks, leak: np.ndarray) -> Deposits:
        """A MIP track to an exponential interaction depth, then a hadronic shower."""
        stretch = tracks.stretch
        start = self.rng.exponential(1.0, len(tracks.event))  # lambda_I along the path
        depth = self.stack.lambda_edges[-1, 1] * stretch
        track = self._mip(tracks, np.minimum(start, depth))
        # The shower gets what the track left; a pion that ranged out makes none, and one
        # that punches through leaves with it (leakage).
        remaining = tracks.energy - track.energy_gev
        inside = (start < depth) & (remaining > 0)
        punch = ~inside
        np.add.at(leak, tracks.event[punch], remaining[punch])
        showering = dataclasses.replace(tracks, energy=remaining).select(inside)
        shower = self._hadronic(showering, start[inside])
        return Deposits.concatenate([track, shower])

    # -- shower components ---------------------------------------------------------------------

    def _frame(self, tracks: _Tracks) -> dict[str, np.ndarray]:
        """Per-shower direction arrays and the axis position (M, S) at each step's depth."""
        shift = np.tan(tracks.theta)[:, None] * self.stack.z_mid_mm[None, :]
        cos_phi, sin_phi = np.cos(tracks.phi), np.sin(tracks.phi)
        return {
            "event": tracks.event,
            "stretch": tracks.stretch,
            "cos_phi": cos_phi,
            "sin_phi": sin_phi,
            "axis_x": tracks.x_mm[:, None] + shift * cos_phi[:, None],
            "axis_y": tracks.y_mm[:, None] + shift * sin_phi[:, None],
        }

    def _em(self, tracks: _Tracks, start_x0: np.ndarray) -> Deposits:
        """GFlash showers starting ``start_x0`` X0 along the path, one medium group at a time."""
        stack, m = self.stack, len(tracks.event)
        stretch = tracks.stretch
        front = stack.x0_edges[None, :, 0] * stretch[:, None] - start_x0[:, None]
        back = stack.x0_edges[None, :, 1] * stretch[:, None] - start_x0[:, None]
        n_spots = np.zeros(front.shape, dtype=np.int64)
        e_spot, r_core, r_tail = np.zeros(front.shape), np.zeros(front.shape), np.zeros(front.shape)
        p_core, leak = np.ones(front.shape), np.zeros(m)
        medium_of = stack.medium_at(start_x0 / stretch)
        for k in np.unique(medium_of):
            sel = np.flatnonzero(medium_of == k)
            medium, energy = stack.media[k], tracks.energy[sel]
            t_max, alpha, mean_alpha = em.fluctuated_profile(energy, medium, self.rng)
            fraction = gamma_fractions(alpha, (alpha - 1.0) / t_max, front[sel], back[sel])
            t_s, a_s = em.spot_profile(t_max, alpha, medium)
            spots = gamma_fractions(a_s, (a_s - 1.0) / t_s, front[sel], back[sel])
            n_total = em.spot_count(energy, medium, stack.media_em_term[k])
            n_spots[sel], e_spot[sel] = allocate_spots(energy, fraction, spots, n_total, self.rng)
            # tau: depth over the shower's mean depth, scaled to the average profile's T.
            t_mid = np.maximum(0.5 * (front[sel] + back[sel]), 0.0)
            mean_depth = (alpha * t_max / (alpha - 1.0))[:, None]
            tau = t_mid / mean_depth * (mean_alpha / (mean_alpha - 1.0))[:, None]
            radial = em.radial_parameters(tau, energy[:, None], medium)
            r_core[sel] = radial.r_core * stack.rm_mm
            r_tail[sel] = radial.r_tail * stack.rm_mm
            p_core[sel] = radial.p_core
            leak[sel] = energy * np.clip(1.0 - fraction.sum(axis=1), 0.0, 1.0)
        return Deposits(
            **self._frame(tracks),
            leak_gev=leak,
            start_mm=stack.depth_mm(start_x0 / stretch),
            n_spots=n_spots,
            e_spot=e_spot,
            r_core_mm=r_core,
            r_tail_mm=r_tail,
            p_core=p_core,
        )

    def _mip(self, tracks: _Tracks, stop_lambda: np.ndarray) -> Deposits:
        """Ionisation of a minimum-ionising track up to ``stop_lambda`` (path): one spot per
        step, displaced from the axis by multiple scattering (so never exactly on it)."""
        stack = self.stack
        stretch = tracks.stretch[:, None]
        front, back = (stack.lambda_edges[None, :, i] * stretch for i in (0, 1))
        covered = np.clip((stop_lambda[:, None] - front) / (back - front), 0.0, 1.0)
        energy = stack.mip_gev_per_mm * stack.length_mm * stretch * covered
        # A slow particle ranges out: the track never deposits more than its energy.
        before = np.cumsum(energy, axis=1) - energy
        energy = np.clip(tracks.energy[:, None] - before, 0.0, energy)
        radius = hadronic.scattering_radius_mm(
            tracks.energy[:, None],
            stack.x0_edges.mean(axis=1)[None, :] * stretch,
            stack.z_mid_mm[None, :] * stretch,
        )
        return Deposits(
            **self._frame(tracks),
            leak_gev=np.zeros(len(tracks.event)),
            start_mm=np.full(len(tracks.event), np.nan),
            n_spots=(energy > 0).astype(np.int64),
            e_spot=energy,
            r_core_mm=radius,
            r_tail_mm=radius,
            p_core=np.ones(energy.shape),
        )

    def _hadronic(self, tracks: _Tracks, start_lambda: np.ndarray) -> Deposits:
        """Bock two-component shower from the interaction point ``start_lambda`` (path)."""
        stack, stretch = self.stack, tracks.stretch
        # Depth of the interaction point in X0 along the path, through the steps' media.
        start_x0 = stretch * np.interp(
            start_lambda / stretch, stack.lambda_edges.ravel(), stack.x0_edges.ravel()
        )
        f_em = hadronic.sample_em_fraction(tracks.energy, self.rng)
        e_em = f_em * tracks.energy
        e_had = (1.0 - f_em) * tracks.energy / hadronic.E_OVER_H
        profile = hadronic.bock_profile(tracks.energy)
        x0 = stack.x0_edges[None] * stretch[:, None, None] - start_x0[:, None, None]
        lam = stack.lambda_edges[None] * stretch[:, None, None] - start_lambda[:, None, None]
        em_fraction = gamma_fractions(profile.shape, profile.em_rate, x0[..., 0], x0[..., 1])
        had_fraction = gamma_fractions(
            profile.shape, profile.hadronic_rate, lam[..., 0], lam[..., 1]
        )
        tau = np.maximum(x0.mean(axis=-1), 0.0) / profile.em_max_x0[:, None]
        n_em, n_had = np.zeros(len(e_em)), np.zeros(len(e_em))
        r_core, r_tail, p_core = np.zeros(tau.shape), np.zeros(tau.shape), np.ones(tau.shape)
        medium_of = stack.medium_at(start_x0 / stretch)
        for k in np.unique(medium_of):
            sel = np.flatnonzero(medium_of == k)
            medium = stack.media[k]
            n_em[sel] = em.spot_count(e_em[sel], medium, stack.media_em_term[k])
            n_had[sel] = em.spot_count(e_had[sel], medium, stack.media_em_term[k])
            radial = em.radial_parameters(tau[sel], np.maximum(e_em[sel], 1e-3)[:, None], medium)
            r_core[sel] = radial.r_core * stack.rm_mm
            r_tail[sel] = radial.r_tail * stack.rm_mm
            p_core[sel] = radial.p_core
        frame = self._frame(tracks)
        width = np.broadcast_to(hadronic.HADRONIC_RADIUS_LAMBDA * stack.lambda_mm, tau.shape)
        parts = []
        for energy, fraction, n_total, radii in (
            (e_em, em_fraction, n_em, (r_core, r_tail, p_core)),
            (e_had, had_fraction, n_had, (width, width, np.ones(tau.shape))),
        ):
            n_spots, e_spot = allocate_spots(energy, fraction, fraction, n_total, self.rng)
            parts.append(
                Deposits(
                    **frame,
                    leak_gev=energy * np.clip(1.0 - fraction.sum(axis=1), 0.0, 1.0),
                    start_mm=stack.depth_mm(start_x0 / stretch),
                    n_spots=n_spots,
                    e_spot=e_spot,
                    r_core_mm=radii[0],
                    r_tail_mm=radii[1],
                    p_core=radii[2],
                )
            )
        return Deposits.concatenate(parts)

    # -- read-out ------------------------------------------------------------------------------

    def _bin(self, deposits: Deposits, n_events: int) -> tuple[np.ndarray, np.ndarray]:
        """Spots into cells: (N, n_cells) deposited GeV, and per-event leakage in GeV."""
        stack, geometry = self.stack, self.geometry
        cells = np.zeros((n_events, geometry.n_cells), dtype=np.float32)
        leak = np.bincount(deposits.event, deposits.leak_gev, minlength=n_events)
        spill_count = int(deposits.n_spots[:, ~stack.rectilinear[stack.layer]].sum())
        spill = np.empty((spill_count, 5))
        n_spill = deposit_spots(
            deposits.event,
            deposits.axis_x,
            deposits.axis_y,
            deposits.stretch,
            deposits.cos_phi,
            deposits.sin_phi,
            deposits.n_spots,
            deposits.e_spot,
            deposits.r_core_mm,
            deposits.r_tail_mm,
            deposits.p_core,
            stack.layer,
            geometry.layer_offsets[:-1].astype(np.int64),
            stack.rectilinear,
            stack.x_edges,
            stack.x_edge_offset,
            stack.y_edges,
            stack.y_edge_offset,
            cells,
            leak,
            spill,
        )
        spill = spill[:n_spill]
        for i in np.flatnonzero(~stack.rectilinear):
            rows = spill[spill[:, 1] == i]
            cell = geometry.layers[i].layout.locate(rows[:, 2], rows[:, 3])
            ok = cell >= 0
            event = rows[:, 0].astype(np.int64)
            np.add.at(cells, (event[ok], cell[ok] + geometry.layer_offsets[i]), rows[ok, 4])
            np.add.at(leak, event[~ok], rows[~ok, 4])
        return cells, leak
