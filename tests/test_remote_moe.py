"""SparseMoE: exactly k experts per node, masked streams carry no weight and cannot change the
output, the Switch balance loss is 1 under uniform routing, all-masked nodes are refused."""
import pytest
import torch

from socspec.remote.moe import SparseMoE


def _inputs(b=32, s=4, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    streams = torch.randn(b, s, d, generator=g)
    mask = torch.rand(b, s, generator=g) > 0.4
    mask[:, 0] = True  # position is always there
    return streams, mask


@pytest.mark.parametrize("k", [1, 2, 3])
def test_exactly_k_distinct_experts_with_renormalised_gates(k):
    torch.manual_seed(0)
    moe = SparseMoE(8, 4, 6, n_experts=4, top_k=k)
    streams, mask = _inputs()
    out, aux = moe(streams, mask)
    assert out.shape == (32, 6)
    idx = aux["expert_index"]
    assert idx.shape == (32, k) and idx.dtype == torch.long
    assert all(len(set(row.tolist())) == k for row in idx)
    torch.testing.assert_close(aux["gates"].sum(-1), torch.ones(32))
    # the chosen experts are the k most probable
    kth = aux["router_probs"].sort(dim=-1, descending=True).values[:, k - 1]
    assert torch.all(aux["router_probs"].gather(1, idx) >= kth[:, None] - 1e-7)


def test_output_is_the_gated_sum_of_the_chosen_experts():
    torch.manual_seed(1)
    moe = SparseMoE(8, 4, 6, n_experts=4, top_k=2)
    streams, mask = _inputs(b=5)
    out, aux = moe(streams, mask)
    w = aux["stream_weight"]
    z = torch.einsum("bs,bsd->bd", w, (streams + moe.stream_type) * mask[..., None])
    for b in range(5):
        want = sum(aux["gates"][b, j] * moe.experts[int(aux["expert_index"][b, j])](z[b])
                   for j in range(2))
        torch.testing.assert_close(out[b], want, atol=1e-6, rtol=1e-5)


def test_masked_streams_get_zero_weight_and_do_not_change_the_output():
    torch.manual_seed(2)
    moe = SparseMoE(8, 4, 6)
    streams, mask = _inputs()
    out, aux = moe(streams, mask)
    w = aux["stream_weight"]
    assert torch.all(w[~mask] == 0)
    torch.testing.assert_close(w.sum(1), torch.ones(32))
    changed = streams.clone()
    changed[~mask] = torch.randn(int((~mask).sum()), 8) * 100
    b0, s0 = (~mask).nonzero()[0].tolist()
    changed[b0, s0] = float("nan")  # even NaN in a masked stream must not leak
    out2, aux2 = moe(changed, mask)
    torch.testing.assert_close(out2, out, atol=0, rtol=0)
    assert torch.equal(aux2["expert_index"], aux["expert_index"])
    # and no gradient reaches a masked stream
    s = streams.clone().requires_grad_(True)
    moe(s, mask)[0].sum().backward()
    assert torch.all(s.grad[~mask] == 0) and s.grad[mask].abs().sum() > 0


def test_balance_loss_is_one_under_uniform_routing_and_larger_when_collapsed():
    moe = SparseMoE(8, 4, 6, n_experts=4, top_k=2)
    streams, mask = _inputs()
    with torch.no_grad():
        moe.router.weight.zero_()
        moe.router.bias.zero_()
    with torch.no_grad():
        _, aux = moe(streams, mask)
    torch.testing.assert_close(aux["router_probs"], torch.full((32, 4), 0.25))
    assert aux["balance_loss"].item() == pytest.approx(1.0, abs=1e-6)
    with torch.no_grad():  # every node prefers experts 0 and 1 strongly
        moe.router.bias.copy_(torch.tensor([5.0, 4.0, 0.0, 0.0]))
    _, aux = moe(streams, mask)
    p = aux["router_probs"].mean(0)
    # f = (1/2, 1/2, 0, 0): loss = 4 * (p0 + p1) / 2
    assert aux["balance_loss"].item() == pytest.approx((2 * (p[0] + p[1])).item(), rel=1e-6)
    assert aux["balance_loss"].item() > 1.9


def test_all_masked_node_raises_and_bad_shapes():
    moe = SparseMoE(8, 4, 6)
    streams, mask = _inputs()
    mask[3] = False
    with pytest.raises(ValueError, match="1 node"):
        moe(streams, mask)
    with pytest.raises(ValueError, match="streams must be"):
        moe(streams[:, :3], mask[:, :3])
    with pytest.raises(ValueError, match="mask must be bool"):
        moe(streams, mask.float())
    with pytest.raises(ValueError, match="top_k"):
        SparseMoE(8, 4, 6, n_experts=2, top_k=3)
