"""Discretized logistic likelihood and its mixture for 8-bit images (Salimans et al., 2017).

Salimans, Karpathy, Chen & Kingma (2017), "PixelCNN++", eq. 2: a pixel stored as one of 256
levels gets the mass of a continuous logistic (or a mixture of them) over its bin,
    P(x | pi, mu, s) = sum_i pi_i [sigmoid((x + 0.5 - mu_i) / s_i) - sigmoid((x - 0.5 - mu_i) / s_i)],
with x in {0, ..., 255} and the edge bins taking the whole tails (x - 0.5 -> -inf at x = 0,
x + 0.5 -> +inf at x = 255). PixelCNN++ writes it for data in [-1, 1] (bin half-width 1/255);
vaelab's data are in [0, 1] as x = k/255, so here the bin half-width is h = 1/510 and mu, s
are in the same [0, 1] units. Because P is a probability mass, -log2 P / D is a true lossless
code length: `test/bpd` is bits per 8-bit sub-pixel with no dequantisation correction.

Stable evaluation. With a = (x - h - mu)/s < b = (x + h - mu)/s, the identity
    sigmoid(b) - sigmoid(a) = sigmoid(b) sigmoid(-a) (1 - exp(-(b - a)))
gives, exactly and in log space,
    log P = [k < 255] log sigmoid(b) + [k > 0] log sigmoid(-a) + [0 < k < 255] log1mexp(1 / (255 s)),
where log1mexp(d) = log(1 - e^-d) (Maechler, 2012). No difference of two numbers close to 1 is
ever formed, so the far tails need no fallback: PixelCNN++ subtracts the two CDFs in float32
and, where that difference falls below 1e-5, replaces it by the density at the bin's mid-point
times the bin width (an approximation); here every bin is exact in every regime.

The mixture is per data dimension (each sub-pixel its own mixture of n_mix logistics, the
colour channels independent given z); PixelCNN++'s linear dependence between R, G and B is
not implemented. Its decoder outputs per dimension are (logits[n_mix], mu[n_mix], log s[n_mix]).
"""

from __future__ import annotations

import math

import torch
from torch.distributions import Categorical, Distribution, Independent, constraints
from torch.distributions.utils import broadcast_all

from vaelab.config.types import Float, PosInt
from vaelab.errors import ConfigError
from vaelab.likelihood.base import Likelihood

LEVELS = 256
HALF_BIN = 0.5 / (LEVELS - 1)  # h = 1/510: half the distance between two levels k/255
GRID_TOL = 1e-6  # how far (in [0, 1] units) a value may sit from its level k/255
DEFAULT_N_MIX = 5
# Soft lower bound of log s in [0, 1] units: s >= e^-8 ~ 0.09 grey levels, where a bin centred
# on mu already holds 99.5% of the mass. PixelCNN++ clamps log s at -7 on [-1, 1] data
# (-7.7 here); a softplus bound instead keeps a gradient below it.
DEFAULT_MIN_LOG_SCALE = -8.0
_ROWS = 4096  # rows per chunk when checking a whole split (bounds the temporary memory)
_MEAN_ELEMENTS = 1 << 22  # largest temporary of `mean` (4M values, 16 MB in float32)
_NO_SHAPE = torch.Size()


def _levels(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(k, off): the nearest level index k = round(255 x) and the mask of values that are not
    within GRID_TOL of a level k/255 in [0, 1]. In float32, 255 x is off by at most ~1.5e-5
    levels for x = k/255: far inside the tolerance (2.55e-4 levels)."""
    scaled = x * (LEVELS - 1)
    k = scaled.round().clamp_(0, LEVELS - 1)  # a value outside [0, 1] is then far from its k
    return k, (scaled - k).abs() > GRID_TOL * (LEVELS - 1)


def off_grid(x: torch.Tensor) -> torch.Tensor:
    """Boolean mask of the values of x that are not an 8-bit level k/255 in [0, 1]."""
    return _levels(x)[1]


# CPU speed: torch's log1p, expm1, softplus and logsigmoid are not vectorised here and cost
# ~10x an exp or a log per element (a large share of a training step). The forms below use
# only exp and log; their absolute error is at most float eps per term (log(1 + u) for u < eps).


def _log_sigmoid(z: torch.Tensor) -> torch.Tensor:
    """log sigmoid(z) = min(z, 0) - log(1 + exp(-|z|)), exact in both tails."""
    return z.clamp(max=0) - torch.log(1 + torch.exp(-z.abs()))


def _softplus(z: torch.Tensor) -> torch.Tensor:
    """log(1 + exp(z)) = max(z, 0) + log(1 + exp(-|z|))."""
    return z.clamp(min=0) + torch.log(1 + torch.exp(-z.abs()))


def _log1mexp(d: torch.Tensor, log_d: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(-d)) for d > 0, given d and log d (finite even where d underflows to 0).
    d < 1/4: log d + log((1 - e^-d)/d) = log d - d/2 + d^2/24 - d^4/2880 + d^6/181440 (next term
    d^8/9676800 < 2e-12), which avoids the cancellation in 1 - e^-d; else log(1 - e^-d) directly
    (1 - e^-d > 0.22). The clamp keeps the unused branch finite: no inf/nan gradient through where."""
    d2 = d * d
    small = log_d - d / 2 + d2 * (1 / 24 + d2 * (-1 / 2880 + d2 / 181440))
    return torch.where(d < 0.25, small, torch.log(1 - torch.exp(-d.clamp(min=0.25))))


class _EightBitLevels(constraints.Constraint):
    """The support {0, 1/255, ..., 1}."""

    is_discrete = True
    event_dim = 0

    def check(self, value: torch.Tensor) -> torch.Tensor:
        return ~off_grid(value)


eight_bit_levels = _EightBitLevels()


class DiscretizedLogisticDistribution(Distribution):
    """One logistic(mu, s) discretised to the 256 levels k/255 of [0, 1]; batch shape = loc's shape.

    loc = mu and log_scale = log s are in [0, 1] units. log_prob snaps its input to the nearest
    level and refuses (one line) values that are not within 1e-6 of one."""

    arg_constraints = {"loc": constraints.real, "log_scale": constraints.real}
    support = eight_bit_levels
    has_rsample = False

    def __init__(self, loc: torch.Tensor, log_scale: torch.Tensor, validate_args: bool | None = None):
        self.loc, self.log_scale = broadcast_all(loc, log_scale)
        super().__init__(self.loc.shape, validate_args=validate_args)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        k, bad = _levels(value)  # k: the level index, exact
        if bad.any():
            raise ConfigError(
                f"{type(self).__name__} models 8-bit levels k/255 in [0, 1], but log_prob got "
                f"{float(value[bad].flatten()[0]):.6g} ({int(bad.sum())} of {value.numel()} values off that grid)"
            )
        inv_s = torch.exp(-self.log_scale)
        d = inv_s * (1.0 / (LEVELS - 1))  # b - a = 2h / s = 1 / (255 s)
        a = (k * (1.0 / (LEVELS - 1)) - HALF_BIN - self.loc) * inv_s  # lower bin edge, standardised
        b = a + d  # upper bin edge
        # log(b - a) from log s directly: finite for any log s, even where d underflows.
        log_d = -self.log_scale - math.log(LEVELS - 1)
        # 0/1 masks (a multiply is cheaper than torch.where): the x = 0 bin has a = -inf, so no
        # log sigmoid(-a) and no width term; the x = 1 bin has b = +inf, so no log sigmoid(b).
        not_first, not_last = (k > 0).to(a.dtype), (k < LEVELS - 1).to(a.dtype)
        upper = _log_sigmoid(b) * not_last
        lower = _log_sigmoid(-a) * not_first
        return upper + lower + _log1mexp(d, log_d) * (not_first * not_last)

    @property
    def mean(self) -> torch.Tensor:
        """Exact mean of the discrete distribution: X = (1/255) sum_{k=1}^{255} 1[X >= k/255], so
        E[X] = (1/255) sum_k P(X >= k/255) = (1/255) sum_k sigmoid((mu - (k/255 - h)) / s).
        255 sigmoids per value: the thresholds go in chunks that keep the temporary (*batch, chunk)
        under _MEAN_ELEMENTS, so memory stays ~batch-sized for any batch."""
        t = torch.arange(1, LEVELS, dtype=self.loc.dtype, device=self.loc.device) / (LEVELS - 1) - HALF_BIN
        loc, inv_s = self.loc.unsqueeze(-1), torch.exp(-self.log_scale).unsqueeze(-1)  # (*batch, 1)
        total = torch.zeros_like(self.loc)
        for chunk in t.split(max(1, _MEAN_ELEMENTS // max(1, self.loc.numel()))):
            total = total + torch.sigmoid((loc - chunk) * inv_s).sum(-1)  # (*batch, chunk) summed
        return total / (LEVELS - 1)

    @torch.no_grad()
    def sample(self, sample_shape: torch.Size = _NO_SHAPE) -> torch.Tensor:
        """Exact draws: a logistic draw mu + s logit(u), rounded to the nearest level and clamped
        to [0, 1] (rounding is the interior bins, clamping gives the edge bins their tails;
        u = 0 gives logit -inf, i.e. the level 0)."""
        shape = self._extended_shape(sample_shape)
        u = torch.rand(shape, dtype=self.loc.dtype, device=self.loc.device)
        y = self.loc.expand(shape) + torch.exp(self.log_scale).expand(shape) * torch.logit(u)
        return (y * (LEVELS - 1)).round().clamp(0, LEVELS - 1) / (LEVELS - 1)


class DiscretizedLogisticMixtureDistribution(Distribution):
    """P(x) = sum_m pi_m P_m(x): n_mix discretised logistics, pi = softmax(logits), with the
    components along dimension `dim` (negative, counted from the end) of the parameters.

    torch's MixtureSameFamily wants the components on the last dimension; a softmax/logsumexp
    over a last dimension of 5 ran ~10x slower on the CPU here than over a leading one, which
    doubled the mixture's step time. So the components stay where the decoder puts them."""

    arg_constraints = {"logits": constraints.real, "loc": constraints.real, "log_scale": constraints.real}
    support = eight_bit_levels
    has_rsample = False

    def __init__(self, logits, loc, log_scale, dim: int = -1, validate_args: bool | None = None):
        if dim >= 0:
            raise ConfigError(f"dim={dim}: give the components' dimension counted from the end (negative)")
        self.logits, loc, log_scale = broadcast_all(logits, loc, log_scale)
        self.dim = dim
        self.components = DiscretizedLogisticDistribution(loc, log_scale, validate_args=False)
        batch_shape = self.logits.shape[:dim] + self.logits.shape[dim:][1:]
        super().__init__(batch_shape, validate_args=validate_args)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """log sum_m exp(log pi_m + log P_m(x)), x broadcast over the components."""
        log_pi = torch.log_softmax(self.logits, self.dim)
        return torch.logsumexp(log_pi + self.components.log_prob(value.unsqueeze(self.dim)), self.dim)

    @property
    def mean(self) -> torch.Tensor:
        """sum_m pi_m E_m[X], each component's mean exact."""
        return (torch.softmax(self.logits, self.dim) * self.components.mean).sum(self.dim)

    @torch.no_grad()
    def sample(self, sample_shape: torch.Size = _NO_SHAPE) -> torch.Tensor:
        """Each draw's component m ~ Categorical(pi), then a draw of that component."""
        m = Categorical(logits=self.logits.movedim(self.dim, -1)).sample(sample_shape)  # (*sample, *batch)
        draws = self.components.sample(sample_shape)  # (*sample, *batch with n_mix at dim)
        return draws.gather(self.dim, m.unsqueeze(self.dim)).squeeze(self.dim)


class _EightBitLikelihood(Likelihood):
    """Shared by both: data in [0, 1] on the 8-bit grid; log s = min + softplus(raw - min)."""

    support = (0.0, 1.0)

    def __init__(self, min_log_scale: Float = DEFAULT_MIN_LOG_SCALE):
        super().__init__()
        self.min_log_scale = float(min_log_scale)

    def log_scale(self, raw: torch.Tensor) -> torch.Tensor:
        # Smooth lower bound: ~raw above min_log_scale, never below it (keeps exp(-log s) finite).
        return self.min_log_scale + _softplus(raw - self.min_log_scale)

    def check_data_range(self, low: float, high: float, where: str = "the data") -> None:
        """[low, high] inside [0, 1], and both ends 8-bit levels (all that a range can show;
        `check_data` checks every value)."""
        super().check_data_range(low, high, where)
        for end in (low, high):
            if off_grid(torch.tensor(end, dtype=torch.float64)):
                self._refuse_off_grid(end, where)

    def check_data(self, x: torch.Tensor, where: str = "the data") -> None:
        """Every value of x in [0, 1] and within 1e-6 of a level k/255, else one line."""
        if x.numel() == 0:
            return
        self.check_data_range(float(x.min()), float(x.max()), where)
        for rows in x.reshape(len(x), -1).split(_ROWS):
            bad = off_grid(rows)
            if bad.any():
                self._refuse_off_grid(float(rows[bad][0]), where)

    def _refuse_off_grid(self, value: float, where: str) -> None:
        raise ConfigError(
            f"likelihood={self.name} models 8-bit levels k/255 in [0, 1], but {where} has {value:.6g}, "
            f"not within {GRID_TOL:g} of one: give the data as 8-bit levels (bytes / 255), binarise it "
            f"(data.binarize), or choose likelihood=continuous_bernoulli or gaussian_learned"
        )

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, min_log_scale={self.min_log_scale}"


class DiscretizedLogistic(_EightBitLikelihood):
    """P(x_d | z) = discretised logistic(mu_d, s_d) on the levels k/255 (PixelCNN++ eq. 2, one component).
    Decoder outputs per dimension: mu (in [0, 1] units, unconstrained) and raw log s."""

    params_per_dim = 2

    def base(self, loc: torch.Tensor, raw_log_scale: torch.Tensor) -> DiscretizedLogisticDistribution:
        return DiscretizedLogisticDistribution(loc, self.log_scale(raw_log_scale), validate_args=False)


class DiscretizedLogisticMixture(_EightBitLikelihood):
    """P(x_d | z) = sum_m pi_dm discretised logistic(mu_dm, s_dm) (PixelCNN++ eq. 2), per data dimension.
    Decoder outputs per dimension: n_mix logits of pi, n_mix means, n_mix raw log-scales."""

    #: The class's value is the decoder width for the default n_mix (what the config resolver reads);
    #: an instance has 3 * n_mix.
    params_per_dim = 3 * DEFAULT_N_MIX

    def __init__(self, n_mix: PosInt = DEFAULT_N_MIX, min_log_scale: Float = DEFAULT_MIN_LOG_SCALE):
        super().__init__(min_log_scale)
        self.n_mix = int(n_mix)
        self.params_per_dim = 3 * self.n_mix

    def base(self, *params: torch.Tensor) -> DiscretizedLogisticMixtureDistribution:
        """3 * n_mix tensors (*batch, *data_shape): logits, means, raw log-scales, n_mix of each."""
        m = self.n_mix
        logits, loc, raw = (torch.stack(params[i * m : (i + 1) * m], dim=-1) for i in range(3))
        return DiscretizedLogisticMixtureDistribution(logits, loc, self.log_scale(raw), dim=-1, validate_args=False)

    def forward(self, params: torch.Tensor, event_dims: int | None = None) -> Distribution:
        """params (*batch, 3 n_mix, *data_shape) -> event over the data dims, batch shape `batch`.
        The parameter axis is split into (3, n_mix) views, no copy; the components stay on it."""
        event_dims = params.dim() - 2 if event_dims is None else event_dims
        axis = params.dim() - event_dims - 1
        if params.shape[axis] != self.params_per_dim:
            raise ConfigError(
                f"likelihood.n_mix={self.n_mix} needs {self.params_per_dim} decoder outputs per data dimension, "
                f"but the decoder gives {params.shape[axis]}: set model.decoder.params_per_dim={self.params_per_dim}"
            )
        logits, loc, raw = params.unflatten(axis, (3, self.n_mix)).unbind(axis)  # each (*batch, n_mix, *data)
        dist = DiscretizedLogisticMixtureDistribution(
            logits, loc, self.log_scale(raw), dim=-(event_dims + 1), validate_args=False
        )
        return Independent(dist, reinterpreted_batch_ndims=event_dims)

    def extra_repr(self) -> str:
        return f"n_mix={self.n_mix}, {super().extra_repr()}"
