"""The model zoo: cards, names, caching, unavailable models, and save/load for every family."""

import importlib.util
import json
import os
import warnings

import numpy as np
import pytest
import torch
from ase.build import bulk

import matwidgets as mw
from matwidgets.engine.atoms import AtomsBatch
from matwidgets.engine.models import Potential

warnings.filterwarnings("ignore", module="sevenn")

OFFLINE = ["chgnet", "chgnet-0.2.0", "chgnet-r2scan", "sevennet-0", "sevennet-l3i5", "sevennet-mf-0", "schnet", "lj", "morse"]


@pytest.fixture(scope="module")
def batch():
    si = bulk("Si", "diamond", 5.43)
    si.rattle(0.04, seed=0)
    nacl = bulk("NaCl", "rocksalt", 5.6)
    return AtomsBatch.from_structures([si, nacl])


def test_list_models_cards():
    cards = {c.name: c for c in mw.list_models()}
    assert set(OFFLINE) <= set(cards)
    for name in OFFLINE:
        card = cards[name]
        assert card.offline and card.family and card.trained_on and card.license
        assert card.n_params is not None and card.n_params >= 0
        assert card.f1 is None or 0 < card.f1 < 1
        assert card.us_per_atom is None or card.us_per_atom > 0
    for name in ("mace-mp-0", "mattersim", "orb-v3", "uma"):
        assert not cards[name].offline
    assert cards["lj"].n_params == 0


def test_card_parameter_counts_match_the_models():
    cards = {c.name: c for c in mw.list_models()}
    for name in ("schnet", "sevennet-0", "chgnet"):
        model = mw.load_model(name, device="cpu")
        assert cards[name].n_params == sum(p.numel() for p in model.parameters()), name


def test_unavailable_model_says_why_and_how():
    with pytest.raises(mw.ModelUnavailableError) as info:
        mw.load_model("mace-mp-0")
    assert isinstance(info.value, ValueError)
    msg = str(info.value)
    assert "not available offline" in msg and "load_model('/path/to/model.pt')" in msg and "no wheel" in msg
    with pytest.raises(mw.ModelUnavailableError, match="SevenNetPotential\\(checkpoint="):
        mw.load_model("sevennet-omni")


def test_unknown_name_lists_known_names():
    with pytest.raises(ValueError, match="unknown model 'nonsense'.*sevennet-0.*schnet") as info:
        mw.load_model("nonsense")
    assert not isinstance(info.value, mw.ModelUnavailableError)
    with pytest.raises(ValueError, match="no checkpoint file"):
        mw.load_model("/no/such/model.pt")


def test_pretrained_models_cached_per_name_device_dtype():
    a = mw.load_model("chgnet", device="cpu")
    assert mw.load_model("chgnet-0.3.0", device="cpu") is a
    assert mw.load_model("chgnet", device="cpu", dtype=torch.float32) is a
    assert a.dtype == torch.float32
    s = mw.load_model("sevennet-0", device="cpu")
    assert s is mw.load_model("sevennet-0", device="cpu") and s.dtype == torch.float32
    s64 = mw.load_model("sevennet-0", device="cpu", dtype=torch.float64)
    assert s64 is not s and s64.dtype == torch.float64
    assert mw.load_model("schnet", device="cpu") is not mw.load_model("schnet", device="cpu")  # trainable: always fresh


def has_config(model: Potential) -> bool:
    return type(model).get_config is not Potential.get_config


def roundtrip(model, path, batch):
    config = model.get_config()
    assert json.loads(json.dumps(config)) is not None  # JSON-able, as the contract says
    model.save(path)
    loaded = mw.load_model(path, device="cpu")
    assert type(loaded) is type(model) and loaded is not model
    assert loaded.dtype == model.dtype
    a, b = model.compute(batch), loaded.compute(batch)
    assert torch.equal(a["energy"], b["energy"])
    assert torch.equal(a["forces"], b["forces"])
    return loaded


def test_save_load_schnet_lj_morse(tmp_path, batch):
    torch.manual_seed(0)
    schnet = mw.SchNet(cutoff=4.0, n_features=16, n_rbf=8).double()
    with torch.no_grad():
        schnet.atom_refs.normal_()  # not the constructor's values: the weights really come from the file
    schnet.tag = "test"
    loaded = roundtrip(schnet, tmp_path / "s.pt", batch)
    assert loaded.tag == "test" and loaded.model_id == schnet.model_id
    assert loaded.get_config() == schnet.get_config()
    roundtrip(mw.LennardJones(0.01, 2.3, 6.0), tmp_path / "lj.pt", batch)
    morse = roundtrip(mw.Morse(0.3, 2.4, 5.0, rcut1=1.5, rcut2=2.0), tmp_path / "m.pt", batch)
    assert morse.get_config() == {"epsilon": 0.3, "r0": 2.4, "rho0": 5.0, "rcut1": 1.5, "rcut2": 2.0}


def test_save_load_sevennet_rebuilds_offline_from_its_config(tmp_path, batch):
    model = mw.load_model("sevennet-0", device="cpu")
    loaded = roundtrip(model, tmp_path / "7net.pt", batch)
    assert loaded.modal is None and loaded.cutoff == model.cutoff


def test_save_load_chgnet(tmp_path, batch):
    model = mw.load_model("chgnet-0.2.0", device="cpu")
    if not has_config(model):
        pytest.skip("CHGNetPotential has no get_config yet (the chgnet-v2 branch adds family/get_config/from_config)")
    loaded = roundtrip(model, tmp_path / "chgnet.pt", batch)
    assert loaded.family == "chgnet"


def test_old_schnet_checkpoint_still_loads(tmp_path, batch):
    torch.manual_seed(1)
    model = mw.SchNet(cutoff=4.0, n_features=16, n_rbf=8)
    old = {"format": "matwidgets-potential/1", "class": "SchNet", "config": model.config, "tag": "old", "state_dict": model.state_dict()}
    torch.save(old, tmp_path / "old.pt")
    loaded = mw.load_model(tmp_path / "old.pt", device="cpu")
    assert loaded.tag == "old"
    assert torch.equal(loaded.compute(batch)["energy"], model.compute(batch)["energy"])


def test_bad_checkpoints_raise_value_error_naming_the_path(tmp_path, batch):
    good = tmp_path / "good.pt"
    torch.manual_seed(0)
    mw.SchNet(cutoff=4.0, n_features=16, n_rbf=8).save(good)
    data = good.read_bytes()
    files = {
        "truncated.pt": data[: len(data) // 2],
        "garbage.pt": np.random.default_rng(0).bytes(4096),
        "empty.pt": b"",
        "text.pt": b"hello, I am not a checkpoint\n",
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    torch.save(mw.SchNet(n_features=8).state_dict(), tmp_path / "state_dict.pt")  # a bare state_dict
    torch.save({"format": "matwidgets-potential/2", "family": "schnet", "config": {"n_features": 8}, "state_dict": {}}, tmp_path / "nostate.pt")
    torch.save({"format": "matwidgets-potential/9"}, tmp_path / "future.pt")
    # other packages' checkpoints, found without importing the packages
    chgnet_dir = os.path.dirname(importlib.util.find_spec("chgnet").origin)
    sevenn_dir = os.path.dirname(importlib.util.find_spec("sevenn").origin)
    chgnet_file = os.path.join(chgnet_dir, "pretrained", "0.2.0", "chgnet_0.2.0_e30f77s348m32.pth.tar")
    sevenn_file = os.path.join(sevenn_dir, "pretrained_potentials", "SevenNet_0__11Jul2024", "checkpoint_sevennet_0.pth")
    foreign = [tmp_path / n for n in [*files, "state_dict.pt", "nostate.pt", "future.pt"]]
    foreign += [chgnet_file, sevenn_file]
    messages = []
    for path in foreign:
        with pytest.raises(ValueError) as info:
            mw.load_model(path, device="cpu")
        assert os.fspath(path) in str(info.value), path
        assert "checkpoint" in str(info.value)
        messages.append(str(info.value))
    print("\n".join(messages))


def test_schnet_parameter_groups():
    model = mw.SchNet(n_features=16, n_interactions=2, n_rbf=8)
    groups = model.parameter_groups()
    assert list(groups) == ["embedding", "interaction.0", "interaction.1", "readout", "atom_refs"]
    ids = [id(p) for ps in groups.values() for p in ps]
    assert len(ids) == len(set(ids)) and set(ids) == {id(p) for p in model.parameters()}
