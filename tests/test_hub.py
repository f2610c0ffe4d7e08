"""Checkpoint store: round trips, model cards, and every failure mode giving a CheckpointError."""

import json
import pathlib
import pickle

import pytest
import torch
from torch import nn

from lgfa_lite import hub
from lgfa_lite.hub import CheckpointError


@hub.register_model("test-tiny")
class Tiny(nn.Module):
    def __init__(self, width: int = 4, tied: bool = True):
        super().__init__()
        self.config = {"width": width, "tied": tied}
        self.a = nn.Linear(3, width)
        self.b = nn.Linear(width, 3)
        if tied:  # shared storage: safetensors refuses it unless save() handles it
            self.c = self.a
        self.register_buffer("steps", torch.tensor(7, dtype=torch.int64))
        self.register_buffer("view", torch.arange(12.0).reshape(3, 4).t())  # non-contiguous

    def forward(self, x):
        return self.b(self.a(x))


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("LGFA_WEIGHTS_DIR", str(tmp_path / "weights"))


def make(seed=0, **kw):
    torch.manual_seed(seed)
    return Tiny(**kw)


def test_round_trip_exact(tmp_path):
    m = make()
    hub.save(m, tmp_path / "weights" / "tiny")
    loaded = hub.load("tiny")  # found through LGFA_WEIGHTS_DIR
    assert isinstance(loaded, Tiny) and not loaded.training
    for k, v in m.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    assert loaded.c is loaded.a


def test_fp16_storage(tmp_path):
    m = make()
    hub.save(m, tmp_path / "f16", dtype=torch.float16)
    _, state = hub.load_state(tmp_path / "f16")
    assert state["a.weight"].dtype == torch.float16 and state["steps"].dtype == torch.int64
    loaded = hub.load(str(tmp_path / "f16"))  # explicit folder path
    assert loaded.a.weight.dtype == torch.float32
    torch.testing.assert_close(loaded.a.weight, m.a.weight, atol=1e-3, rtol=1e-3)
    assert int(loaded.steps) == 7


def test_config_json(tmp_path):
    hub.save(make(width=5, tied=False), tmp_path / "t")
    cfg = json.loads((tmp_path / "t" / "config.json").read_text())
    assert cfg["model_type"] == "test-tiny" and cfg["config"] == {"width": 5, "tied": False}
    assert cfg["lgfa_lite_version"]
    assert hub.load(str(tmp_path / "t")).a.out_features == 5


def test_model_card(tmp_path):
    card = {"metrics": {"fid": 12.5, "lpips": 0.25}, "description": "A tiny test net.", "training": "None."}
    hub.save(make(), tmp_path / "t", card=card)
    meta = hub.read_card(tmp_path / "t")
    assert meta["library_name"] == "lgfa_lite" and meta["license"] == "mit"
    assert meta["datasets"] == ["synthfaces"] and "test-tiny" in meta["tags"]
    assert meta["results"] == {"fid": 12.5, "lpips": 0.25}
    body = (tmp_path / "t" / "README.md").read_text()
    assert "A tiny test net." in body and "hub.load" in body and "| fid | 12.5 |" in body
    assert "name: t\n" in body  # without a name the card names the folder
    hub.save(make(), tmp_path / "scratch", card={"name": "tiny-synthfaces-64"})  # a trainer's scratch out_dir
    meta = (tmp_path / "scratch" / "README.md").read_text()
    assert "name: tiny-synthfaces-64" in meta and "scratch" not in meta


def test_save_needs_config_and_registration(tmp_path):
    with pytest.raises(CheckpointError, match="register_model"):
        hub.save(nn.Linear(2, 2), tmp_path / "x")
    m = make()
    del m.config
    with pytest.raises(CheckpointError, match="self.config"):
        hub.save(m, tmp_path / "x")


def test_register_model_names_stay_unique_but_a_module_run_as_main_hands_over(monkeypatch, tmp_path):
    monkeypatch.setattr(hub, "_REGISTRY", {})

    def animator(module):
        def init(self):
            nn.Module.__init__(self)
            self.config, self.lin = {}, nn.Linear(2, 2)

        return type("Animator", (nn.Module,), {"__module__": module, "__init__": init})

    script, package = animator("__main__"), animator("pkg.animator")  # `python -m pkg.animator`
    hub.register_model("animator", script)
    hub.register_model("animator", package)
    assert hub.model_class("animator") is package
    hub.save(script(), tmp_path / "a")  # the trainer, running as __main__, can still save
    assert isinstance(hub.load(tmp_path / "a"), package)
    with pytest.raises(ValueError, match="already registered"):
        hub.register_model("animator", type("Other", (), {}))


@pytest.mark.parametrize("error", ["offline", "not_found"])
def test_missing_repo(monkeypatch, error):
    from unittest import mock

    import huggingface_hub
    from huggingface_hub import errors

    def fake_snapshot_download(repo_id, **kw):
        if error == "offline":
            raise errors.LocalEntryNotFoundError("Cannot find the requested files in the disk cache")
        raise errors.RepositoryNotFoundError("404 Client Error: Repository Not Found", response=mock.MagicMock())

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    with pytest.raises(CheckpointError, match="someone/no-such-model") as exc:
        hub.load("someone/no-such-model")
    assert "hf download someone/no-such-model --local-dir" in str(exc.value)
    assert type(exc.value.__cause__).__name__ in str(exc.value)


def test_missing_local_name_never_hits_hub(monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *a, **k: pytest.fail("network"))
    with pytest.raises(CheckpointError, match="no-such-name"):
        hub.load("no-such-name")


def test_shape_mismatch_and_missing_keys(tmp_path):
    hub.save(make(width=4), tmp_path / "t")
    cfg_path = tmp_path / "t" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["config"]["width"] = 6
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"shape mismatch.*a\.weight.*\(4, 3\).*\(6, 3\)"):
        hub.load(str(tmp_path / "t"))

    from safetensors.torch import save_file

    hub.save(make(), tmp_path / "u")
    state = hub.load_state(tmp_path / "u")[1]
    del state["b.bias"]
    state["extra"] = torch.zeros(1)
    save_file(state, str(tmp_path / "u" / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"missing keys.*b\.bias.*unexpected keys.*extra"):
        hub.load(str(tmp_path / "u"))
    m = hub.load(str(tmp_path / "u"), strict=False)  # strict=False tolerates missing/unexpected
    assert isinstance(m, Tiny)


def test_corrupt_files(tmp_path):
    hub.save(make(), tmp_path / "t")
    st = tmp_path / "t" / "model.safetensors"
    good = st.read_bytes()
    for bad in (b"\x00garbage" * 10, good[: len(good) // 2]):
        st.write_bytes(bad)
        with pytest.raises(CheckpointError, match="corrupt"):
            hub.load(str(tmp_path / "t"))
    st.write_bytes(good)
    (tmp_path / "t" / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="config.json"):
        hub.load(str(tmp_path / "t"))


class _Boom:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):  # unpickling this writes the marker file
        return pathlib.Path.write_text, (pathlib.Path(self.marker), "unpickled!")


def test_pickles_are_refused(tmp_path):
    # Sanity check that the payload really has a side effect when unpickled.
    pickle.loads(pickle.dumps(_Boom(tmp_path / "probe")))
    assert (tmp_path / "probe").exists()

    folder = tmp_path / "weights" / "legacy"
    folder.mkdir(parents=True)
    marker = tmp_path / "marker"
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"w": _Boom(marker)}))
    (folder / "config.json").write_text(json.dumps({"model_type": "test-tiny", "config": {}}))
    with pytest.raises(CheckpointError, match=r"pickle.*pytorch_model\.bin.*safetensors"):
        hub.load("legacy")
    assert not marker.exists()


def test_publish_dry_run(tmp_path):
    hub.save(make(), tmp_path / "t", card={"metrics": {"fid": 1.0}})
    (tmp_path / "t" / "stray.pt").write_bytes(b"x")
    assert hub.publish(tmp_path / "t", "me/tiny", dry_run=True) == ["config.json", "model.safetensors", "README.md"]
    (tmp_path / "t" / "README.md").unlink()
    with pytest.raises(CheckpointError, match="README.md"):
        hub.publish(tmp_path / "t", "me/tiny", dry_run=True)


def test_publish_calls_hub_api(tmp_path, monkeypatch):
    import huggingface_hub

    calls = []

    class FakeApi:
        def __init__(self, token=None):
            calls.append(("init", token))

        def create_repo(self, repo_id, **kw):
            calls.append(("create", repo_id, kw["exist_ok"], kw["private"]))

        def upload_folder(self, **kw):
            calls.append(("upload", kw["repo_id"], sorted(kw["allow_patterns"])))

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    hub.save(make(), tmp_path / "t")
    hub.publish(tmp_path / "t", "me/tiny", token="tok", private=True)
    assert calls == [
        ("init", "tok"),
        ("create", "me/tiny", True, True),
        ("upload", "me/tiny", ["README.md", "config.json", "model.safetensors"]),
    ]


def test_weights_dir_override(tmp_path, monkeypatch):
    other = tmp_path / "elsewhere"
    hub.save(make(), other / "tiny")
    with pytest.raises(CheckpointError):
        hub.load("tiny")
    monkeypatch.setenv("LGFA_WEIGHTS_DIR", str(other))
    assert hub.default_weights_dir() == other
    assert isinstance(hub.load("tiny"), Tiny)
    monkeypatch.delenv("LGFA_WEIGHTS_DIR")
    assert hub.default_weights_dir() == pathlib.Path(hub.__file__).resolve().parents[1] / "weights"
    assert isinstance(hub.load("tiny", weights_dir=other), Tiny)
