"""RelationalGraphAttention equals PyG's RGATConv (forward and gradients); RelationalBlock shapes
and residual path; argument checks."""
import pytest
import torch

pyg = pytest.importorskip("torch_geometric")
from torch_geometric.nn import RGATConv

from socspec.remote.attention import RelationalBlock, RelationalGraphAttention


def _graph(n=40, e=300, r=3, f=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, f, generator=g)
    edge_index = torch.randint(0, n, (2, e), generator=g)
    edge_type = torch.randint(0, r, (e,), generator=g)
    return x, edge_index, edge_type


@pytest.mark.parametrize("concat", [True, False])
@pytest.mark.parametrize("heads", [1, 4])
def test_forward_and_gradients_equal_rgatconv(concat, heads):
    torch.manual_seed(1)
    x, ei, et = _graph()
    conv = RGATConv(7, 5, num_relations=3, heads=heads, concat=concat)
    with torch.no_grad():  # non-zero bias so a wrong bias shape/placement would show
        conv.bias.normal_()
    ours = RelationalGraphAttention.from_rgatconv(conv)
    xa = x.clone().requires_grad_(True)
    xb = x.clone().requires_grad_(True)
    out_pyg = conv(xa, ei, et)
    out_ours = ours(xb, ei, et)
    assert out_ours.shape == out_pyg.shape == (40, 5 * heads if concat else 5)
    torch.testing.assert_close(out_ours, out_pyg, atol=1e-5, rtol=1e-5)
    # same loss -> same gradients w.r.t. input and every parameter
    w = torch.randn_like(out_pyg)
    (out_pyg * w).sum().backward()
    (out_ours * w).sum().backward()
    torch.testing.assert_close(xb.grad, xa.grad, atol=1e-5, rtol=1e-5)
    for name in ("weight", "q", "k", "bias"):
        torch.testing.assert_close(getattr(ours, name).grad, getattr(conv, name).grad,
                                   atol=1e-5, rtol=1e-5, msg=name)


def test_small_edge_chunks_give_the_same_answer():
    torch.manual_seed(2)
    x, ei, et = _graph(e=500)
    conv = RGATConv(7, 3, num_relations=3, heads=2)
    big = RelationalGraphAttention.from_rgatconv(conv)
    small = RelationalGraphAttention.from_rgatconv(conv)
    small.edge_chunk = 17  # many chunks, the last one partial
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    a, b = big(xa, ei, et), small(xb, ei, et)
    torch.testing.assert_close(a, b)
    a.square().sum().backward()
    b.square().sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad)
    torch.testing.assert_close(big.weight.grad, small.weight.grad)


def test_attention_dropout_only_in_training():
    torch.manual_seed(3)
    x, ei, et = _graph()
    layer = RelationalGraphAttention(7, 4, 3, heads=2, dropout=0.5)
    layer.eval()
    torch.testing.assert_close(layer(x, ei, et), layer(x, ei, et))
    layer.train()
    assert not torch.allclose(layer(x, ei, et), layer(x, ei, et))


def test_node_without_incoming_edges_gets_bias_only():
    x, ei, et = _graph()
    keep = ei[1] != 0
    layer = RelationalGraphAttention(7, 4, 3, heads=2)
    with torch.no_grad():
        layer.bias.normal_()
    out = layer(x, ei[:, keep], et[keep])
    torch.testing.assert_close(out[0], layer.bias)


def test_block_shapes_residual_and_gradient():
    torch.manual_seed(4)
    x, ei, et = _graph()
    block = RelationalBlock(7, 16, 3, heads=4, dropout=0.0)
    out = block(x, ei, et)
    assert out.shape == (40, 16)
    assert isinstance(block.residual, torch.nn.Linear)
    same = RelationalBlock(16, 16, 3, heads=2, dropout=0.0)
    assert isinstance(same.residual, torch.nn.Identity)
    out2 = same(out, ei, et)
    out2.sum().backward()
    assert same.attention.weight.grad is not None and same.attention.weight.grad.abs().sum() > 0
    # post-norm: each row standardised by LayerNorm (weight 1, bias 0 at init) before GELU
    h = same.norm(same.mix_heads(same.attention(out, ei, et)) + out)
    torch.testing.assert_close(h.mean(dim=1), torch.zeros(40), atol=1e-5, rtol=0)


def test_block_splits_its_width_across_heads():
    block = RelationalBlock(16, 16, 3, heads=4, dropout=0.0)
    assert block.attention.out_channels == 4 and block.attention.heads == 4
    assert block.mix_heads.in_features == 16
    with pytest.raises(ValueError, match="divisible by heads=3"):
        RelationalBlock(16, 16, 3, heads=3)


def test_argument_errors():
    x, ei, et = _graph()
    layer = RelationalGraphAttention(7, 4, 3)
    with pytest.raises(ValueError, match="x must be"):
        layer(x[:, :5], ei, et)
    with pytest.raises(ValueError, match="edge_type values"):
        layer(x, ei, et + 3)
    with pytest.raises(ValueError, match="edge_type must be"):
        layer(x, ei, et[:-1])
    with pytest.raises(ValueError, match="outside"):
        layer(x, ei + 100, et)
    with pytest.raises(ValueError, match="heads"):
        RelationalGraphAttention(7, 4, 3, heads=0)
    with pytest.raises(ValueError, match="only attention_mechanism"):
        RelationalGraphAttention.from_rgatconv(RGATConv(7, 4, 3, attention_mechanism="within-relation"))


def test_bf16_autocast_runs_and_stays_close():
    # training uses bf16 autocast on CUDA; the CPU autocast exercises the same dtype mixing
    torch.manual_seed(5)
    x, ei, et = _graph(f=16)
    block = RelationalBlock(16, 16, 3, heads=4, dropout=0.0).eval()
    ref = block(x, ei, et)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = block(x, ei, et)
    out.float().sum().backward()
    torch.testing.assert_close(out.float(), ref, atol=0.1, rtol=0.05)
