"""P(A|alpha): sampling, probabilities, top-N export and checkpoint safety."""

from __future__ import annotations

import itertools
import json
import math

import pytest
import torch
from nni.mutable import Categorical, CategoricalMultiple

from nni_autotsnet.strategies import ArchDistribution

pytestmark = pytest.mark.usefixtures("single_thread")


def _space():
    return {'a': Categorical([1, 2, 3], label='a'), 'b': Categorical(['x', 'y'], label='b'),
            'c': CategoricalMultiple([0, 1, 2, 3], n_chosen=1, label='c')}


def _distribution(seed=0):
    dist = ArchDistribution(_space())
    with torch.no_grad():
        dist.logits.copy_(torch.randn(dist.logits.shape, generator=torch.Generator().manual_seed(seed)))
    return dist


def _enumerate(dist):
    """Every architecture with its exact probability."""
    probs = dist.probs_dict()
    out = []
    for values in itertools.product(*dist.values):
        sample = dist.to_sample([vs.index(v) for vs, v in zip(dist.values, values)])
        p = math.prod(probs[label][v] for label, v in zip(dist.labels, values))
        out.append((sample, p))
    return out


def test_samples_follow_the_probabilities():
    dist = _distribution()
    samples, indices = dist.sample(20_000, torch.Generator().manual_seed(0))
    assert indices.shape == (20_000, 3)
    assert samples[0]['c'] in ([0], [1], [2], [3])  # InputChoice-style values come wrapped in a list
    for row, (label, values) in enumerate(zip(dist.labels, dist.values)):
        freq = torch.bincount(indices[:, row], minlength=len(values)).double() / len(indices)
        expected = torch.tensor([dist.probs_dict()[label][v] for v in values], dtype=torch.float64)
        torch.testing.assert_close(freq, expected, atol=0.015, rtol=0)


def test_the_same_seed_gives_the_same_architectures():
    dist = _distribution()
    a, _ = dist.sample(13, torch.Generator().manual_seed(4))
    b, _ = dist.sample(13, torch.Generator().manual_seed(4))
    assert a == b


def test_log_prob_and_entropy_match_enumeration():
    dist = _distribution(1)
    archs = _enumerate(dist)
    rows = torch.stack([dist.to_indices(s) for s, _ in archs])
    torch.testing.assert_close(dist.log_prob(rows).exp().double(), torch.tensor([p for _, p in archs], dtype=torch.float64),
                               rtol=1e-5, atol=1e-7)
    entropy = -sum(p * math.log(p) for _, p in archs)
    assert float(dist.entropy()) == pytest.approx(entropy, rel=1e-5)


def test_top_k_is_the_exact_ranking():
    dist = _distribution(2)
    ranked = sorted(_enumerate(dist), key=lambda sp: -sp[1])
    top = dist.top_k(7)
    assert [p for _, p in top] == pytest.approx([p for _, p in ranked[:7]], rel=1e-5)
    assert top[0][0] == dist.most_likely()
    assert len(dist.top_k(1000)) == 24  # never more than the space holds


def test_json_export_lists_values_logits_and_probabilities():
    dist = _distribution(3)
    exported = json.loads(json.dumps(dist.to_json_dict()))
    assert list(exported) == ['a', 'b', 'c']
    assert exported['b']['values'] == ['x', 'y']
    assert exported['c']['logits'] == pytest.approx(dist.logits.detach()[5:9].tolist())
    assert sum(exported['a']['probs']) == pytest.approx(1.0)


def test_checkpointed_alpha_of_another_space_is_refused():
    dist = _distribution()
    state = dist.state_dict()
    ArchDistribution(_space()).load_state_dict(state)  # same space: fine
    other = _space()
    other['b'] = Categorical(['x', 'z'], label='b')
    with pytest.raises(ValueError, match='different search space'):
        ArchDistribution(other).load_state_dict(state)


def test_priors_of_the_space_initialise_alpha():
    dist = ArchDistribution({'a': Categorical([1, 2], weights=[0.25, 0.75], label='a')})
    assert dist.probs_dict()['a'] == pytest.approx({1: 0.25, 2: 0.75})
