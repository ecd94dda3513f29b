"""What every hierarchical VAE shares, written once: groups of latents z_L, ..., z_1 (z_L at the
top) generated top down and inferred in the same order,

    p(x, z) = p(z_L) prod_{l<L} p(z_l | z_>l) p(x | z),     q(z|x) = q(z_L | x) prod_{l<L} q(z_l | x, z_>l)

(Sønderby et al., 2016, "Ladder VAEs"; Kingma et al., 2016, IAF paper sec. 6; Vahdat & Kautz, 2020,
"NVAE"; Child, 2021, "VDVAE"; the two-level case is Tomczak & Welling, 2018, sec. 3.3). Each
conditional is a diagonal Gaussian; the top group's prior p(z_L) is a vaelab prior (standard, mog,
vamp: a VampPrior mixes q(z_L | u_k) over pseudo-inputs u_k).

A subclass says how one group is computed (`bottom_up`, `initial_state`, `posterior`,
`conditional_prior`, `absorb`, `output`); this class walks the groups and gives the system, the
objectives and the apps what they ask of any vae:
    ELBO(x) = E_q[log p(x|z)] - sum_l E_q[KL(q(z_l | x, z_>l) || p(z_l | z_>l))]
with each group's KL in closed form given the sample above it (Monte Carlo for a non-Gaussian top
prior), the importance-weighted log p(x) over the joint q, samples at a temperature (every group's
scale times T), reconstructions and codes.

Codes are the groups concatenated, top group first: z (*batch, L) with L = sum(group_sizes).
The posterior handed to the metrics is the product of the conditionals at the sample, written as one
diagonal Gaussian over z (its log_prob at that sample is log q(z|x) exactly), with each group's KL
beside it. Group l of the paper's notation (z_1 nearest the data) is group_sizes[L - l].
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from torch.distributions import Distribution, Independent, Normal, constraints, kl_divergence

from vaelab.errors import ConfigError
from vaelab.likelihood import Likelihood
from vaelab.model.distributions import diagonal_normal
from vaelab.model.vae import LOGVAR_RANGE
from vaelab.model.views import CodeSpace, ImportanceSample


def diagonal_gaussian(params: torch.Tensor) -> Independent:
    """[mu, logvar] (N, 2 * d) -> N(mu, diag(exp(logvar))): batch (N,), event (d,); float32."""
    mu, logvar = params.float().chunk(2, dim=-1)
    scale = torch.exp(0.5 * logvar.clamp(*LOGVAR_RANGE))
    return diagonal_normal(mu, scale)


def tempered(p: Distribution, temperature: float) -> Distribution:
    """A diagonal Gaussian with its scale times T."""
    if temperature == 1.0:
        return p
    scale = temperature * p.base_dist.scale
    return diagonal_normal(p.base_dist.loc, scale)


def draw(p: Distribution, n: int) -> torch.Tensor:
    """n draws from p for n examples: p's batch is (n,), or () for a top prior shared by all."""
    return p.sample() if p.batch_shape else p.sample((n,))


class GroupedPosterior(Independent):
    """q(z|x) at one sample: the conditionals q(z_l | x, z_>l) concatenated, top group first, as one
    diagonal Gaussian with batch (B,) and event (L,); `kl_groups` (B, G) holds each group's KL to its
    prior at that sample (top group first), `group_sizes` their sizes, and `kl_dims` (B, L) each
    dimension's KL to its conditional prior where every prior is a diagonal Gaussian (else None)."""

    def __init__(
        self,
        groups: Sequence[Independent],
        kl_groups: torch.Tensor,
        group_sizes: Sequence[int],
        kl_dims: torch.Tensor | None = None,
    ):
        loc = torch.cat([g.base_dist.loc for g in groups], dim=-1)
        scale = torch.cat([g.base_dist.scale for g in groups], dim=-1)
        super().__init__(Normal(loc, scale, validate_args=False), 1, validate_args=False)
        self.kl_groups, self.group_sizes, self.kl_dims = kl_groups, tuple(group_sizes), kl_dims


class HierarchicalPrior(Distribution):
    """p(z) = p(z_L) prod_l p(z_l | z_>l) over the concatenated groups (batch (), event (L,)), at
    temperature T: `sample` is ancestral, `log_prob` walks the groups at the given z."""

    arg_constraints: dict = {}
    support = constraints.real_vector

    def __init__(self, vae: HierarchicalVAE, temperature: float = 1.0):
        self.vae, self.temperature = vae, float(temperature)
        super().__init__(torch.Size(), torch.Size([vae.latent_dim]), validate_args=False)

    def sample(self, sample_shape: Sequence[int] = ()) -> torch.Tensor:
        with torch.no_grad():
            n = int(torch.Size(sample_shape).numel())
            z, _ = self.vae.descend(n, lambda group, p, q: draw(p, n), temperature=self.temperature)
        return z.view(*sample_shape, self.vae.latent_dim)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        shape = z.shape[:-1]
        flat = z.reshape(-1, self.vae.latent_dim)
        parts = self.vae.split(flat)
        log_p = torch.zeros(flat.shape[0], device=z.device)

        def given(group: int, p: Distribution, q: Distribution | None) -> torch.Tensor:
            nonlocal log_p
            log_p = log_p + p.log_prob(parts[group])
            return parts[group]

        self.vae.descend(flat.shape[0], given, temperature=self.temperature)
        return log_p.view(shape)


class HierarchicalVAE(CodeSpace, nn.Module):
    """Base class: groups of latents of `group_sizes` (top group first) over data of `data_shape`,
    a vaelab `prior` on the top group and a `likelihood` p(x|z)."""

    hierarchical = True

    def __init__(
        self,
        group_sizes: Sequence[int],
        data_shape: Sequence[int],
        likelihood: Likelihood,
        prior: nn.Module,
        iw_rows_per_chunk: int = 4096,
    ):
        super().__init__()
        self.group_sizes = tuple(int(g) for g in group_sizes)
        if len(self.group_sizes) < 2 or min(self.group_sizes) < 1:
            raise ConfigError(f"a hierarchical model needs two or more groups of latents, got {list(group_sizes)}")
        self.likelihood, self.prior = likelihood, prior
        self.set_space(data_shape, sum(self.group_sizes), iw_rows_per_chunk)

    @property
    def group_names(self) -> tuple[str, ...]:
        """The groups' names in the papers' notation, top first: ("z2", "z1") for two groups."""
        return tuple(f"z{len(self.group_sizes) - g}" for g in range(len(self.group_sizes)))

    # ----------------------------------------------------------------- what a subclass writes

    def bottom_up(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Deterministic features of x (B, *data_shape) for inference, each with batch dim B first."""
        raise NotImplementedError

    def initial_state(self, n: int) -> Any:
        """The top-down path's state before the top group, for n examples."""
        raise NotImplementedError

    def posterior(self, group: int, state: Any, features: list[torch.Tensor]) -> Independent:
        """q(z_group | x, z_above): batch (N,), event (group_sizes[group],)."""
        raise NotImplementedError

    def conditional_prior(self, group: int, state: Any) -> Independent:
        """p(z_group | z_above) for group >= 1 (the top group's is `prior`): batch (N,)."""
        raise NotImplementedError

    def absorb(self, group: int, state: Any, z: torch.Tensor) -> Any:
        """The state after z_group (N, group_sizes[group]) is drawn."""
        raise NotImplementedError

    def output(self, state: Any) -> torch.Tensor:
        """The likelihood's parameters (N, P, *data_shape) from the state after the last group."""
        raise NotImplementedError

    # ----------------------------------------------------------------- the walk down the groups

    def encode_top(self, x: torch.Tensor) -> Independent:
        """q(z_L | x), the top group's posterior: what a VampPrior mixes over its pseudo-inputs."""
        return self.posterior(0, self.initial_state(x.shape[0]), self.bottom_up(x))

    def top_prior(self, temperature: float = 1.0) -> Distribution:
        if temperature == 1.0:
            return self.prior(self.encode_top)
        return self.prior.tempered(temperature, self.encode_top)

    def descend(
        self,
        n: int,
        choose: Callable[[int, Distribution, Independent | None], torch.Tensor],
        features: list[torch.Tensor] | None = None,
        temperature: float = 1.0,
        priors: bool = True,
    ) -> tuple[torch.Tensor, Any]:
        """Walk the groups top down for n examples: at each, the prior p(z_l | z_>l) (None when not
        `priors`; the top group's has batch shape ()) and, given features of x, the posterior
        q(z_l | x, z_>l); `choose(l, p, q)` gives z_l (n, d_l). Returns the codes (n, L) and the
        state after the last group."""
        state, codes = self.initial_state(n), []
        for group in range(len(self.group_sizes)):
            if not priors:
                p = None
            elif group == 0:
                p = self.top_prior(temperature)
            else:
                p = tempered(self.conditional_prior(group, state), temperature)
            q = self.posterior(group, state, features) if features is not None else None
            z = choose(group, p, q)
            codes.append(z)
            state = self.absorb(group, state, z)
        return torch.cat(codes, dim=-1), state

    def split(self, z: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Codes (..., L) -> each group's part, top first."""
        return z.split(self.group_sizes, dim=-1)

    def _infer(self, x: torch.Tensor, k: int = 1) -> tuple[torch.Tensor, GroupedPosterior, torch.Tensor, Distribution]:
        """k reparameterised draws from q(z|x) for each of x's B examples, in one batch of k * B
        (draw-major): (z (kB, L), the posterior at them, log p(z) - log q(z|x) (kB,), p(x|z) (kB,))."""
        features = [f.repeat(k, *([1] * (f.dim() - 1))) for f in self.bottom_up(x)]  # (kB, ...)
        qs, kls, dims, log_ratio = [], [], [], 0.0

        def sample_q(group: int, p: Distribution, q: Independent | None) -> torch.Tensor:
            nonlocal log_ratio
            z = q.rsample()  # (kB, d_l): z = mu + sigma * eps, differentiable in both
            log_pq = p.log_prob(z) - q.log_prob(z)
            gaussian = isinstance(p, Independent) and isinstance(p.base_dist, Normal)
            # Closed form given the groups above (lower variance), else the estimate at z.
            per_dim = kl_divergence(q.base_dist, p.base_dist) if gaussian else None  # (kB, d_l)
            kls.append(per_dim.sum(-1) if gaussian else -log_pq)
            dims.append(per_dim)
            qs.append(q)
            log_ratio = log_ratio + log_pq
            return z

        z, state = self.descend(x.shape[0] * k, sample_q, features)
        kl_dims = None if any(d is None for d in dims) else torch.cat(dims, dim=-1)
        q = GroupedPosterior(qs, torch.stack(kls, dim=-1), self.group_sizes, kl_dims)
        return z, q, log_ratio, self._likelihood(state)

    def _likelihood(self, state: Any) -> Distribution:
        return self.likelihood(self.output(state).float(), event_dims=len(self.data_shape))

    # ----------------------------------------------------------------- what every vae offers

    def encode(self, x: torch.Tensor) -> GroupedPosterior:
        """q(z|x) along its means: each group's posterior given the means of the groups above, so
        `.mean` is the code of x (B, L). For the ELBO's sample, see `elbo_sample`."""
        qs: list[Independent] = []

        def mean(group: int, p: Distribution, q: Independent | None) -> torch.Tensor:
            qs.append(q)
            return q.mean

        self.descend(x.shape[0], mean, self.bottom_up(x), priors=False)
        kl = torch.zeros(x.shape[0], len(self.group_sizes), device=x.device)  # not the ELBO's: not computed
        return GroupedPosterior(qs, kl, self.group_sizes)

    def forward(self, x: torch.Tensor) -> GroupedPosterior:
        return self.encode(x)

    def prior_dist(self, temperature: float = 1.0) -> HierarchicalPrior:
        return HierarchicalPrior(self, temperature)

    def decode(self, z: torch.Tensor) -> Distribution:
        """p(x|z) for codes z (*batch, L): batch shape `batch`, event shape data_shape."""
        flat = z.reshape(-1, self.latent_dim)
        parts = self.split(flat)
        _, state = self.descend(flat.shape[0], lambda group, p, q: parts[group], priors=False)
        params = self.output(state).float()  # (N, P, *data_shape)
        return self.likelihood(params.view(*z.shape[:-1], *params.shape[1:]), event_dims=len(self.data_shape))

    def elbo_sample(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, GroupedPosterior, torch.Tensor]:
        """(recon, kl, q, z): the ELBO's parts per example (B,) with kl = sum of the groups' KLs
        (q.kl_groups, (B, G)), the posterior at the sample and the sample z (B, L)."""
        z, q, _, px = self._infer(x)
        return -px.log_prob(x), q.kl_groups.sum(-1), q, z

    def kl_units(self, q: GroupedPosterior) -> torch.Tensor:
        """The KL in the units free bits holds apart: each group (Kingma et al., 2016, eq. 15;
        Vahdat & Kautz, 2020), (B, G)."""
        return q.kl_groups

    def importance_sample(self, x: torch.Tensor, k: int) -> ImportanceSample:
        """k draws z_k ~ q(z|x) over the joint posterior and log w_k = log p(x|z_k) + log p(z_k) -
        log q(z_k|x) (k, B) (Burda et al., 2016, eq. 8), with the ELBO's parts at the first draw."""
        b = x.shape[0]
        z, q, log_ratio, px = self._infer(x, k)
        x_k = x.expand(k, *x.shape).reshape(k * b, *x.shape[1:])  # draw-major, as the features
        log_px = px.log_prob(x_k)  # (kB,)
        log_w = (log_px + log_ratio).view(k, b)
        loc, scale = q.base_dist.loc[:b], q.base_dist.scale[:b]  # the first draw's conditionals
        kl_dims = None if q.kl_dims is None else q.kl_dims[:b]
        first = GroupedPosterior([diagonal_normal(loc, scale)], q.kl_groups[:b], self.group_sizes, kl_dims)
        return ImportanceSample(log_w, -log_px[:b], q.kl_groups[:b].sum(-1), first, z[:b])
