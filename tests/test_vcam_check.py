"""`python main.py --check-camera` against fake /sys and /dev trees (the checks take a root path)."""
import io

import pytest

import main as entry
from app import vcam_check
from app.vcam_check import LOOPBACK_LOAD, LOOPBACK_RELOAD, linux_checks, macos_checks, report, windows_checks


def fake_linux(root, *, loaded=True, devices=(("video10", "PortraitCam"),), exclusive="Y,N,N,N", nodes=True):
    if loaded:
        parameters = root / "sys/module/v4l2loopback/parameters"
        parameters.mkdir(parents=True)
        if exclusive is not None:
            (parameters / "exclusive_caps").write_text(exclusive + "\n")
    (root / "dev").mkdir(exist_ok=True)
    for name, label in devices:
        folder = root / "sys/devices/virtual/video4linux" / name
        folder.mkdir(parents=True)
        (folder / "name").write_text(label + "\n")
        if nodes:
            (root / "dev" / name).write_text("")  # a stand-in for the character device
    return root


def run_checks(root, access=lambda path, mode: True, opener=lambda: "/dev/video10"):
    checks = linux_checks(root, access=access)
    if not any(c.required and c.ok is False for c in checks):
        checks.append(vcam_check.open_check(opener))
    out = io.StringIO()
    code = report(checks, "linux", out)
    return code, out.getvalue(), checks


def test_a_working_loopback_set_up_is_usable(tmp_path):
    code, text, checks = run_checks(fake_linux(tmp_path))
    assert code == 0, text
    assert [c.status for c in checks] == ["OK"] * 5
    assert "/dev/video10 (PortraitCam)" in text and "Result: the virtual camera is usable." in text
    assert "FAIL" not in text


def test_no_module_says_how_to_install_and_load_it(tmp_path):
    code, text, checks = run_checks(fake_linux(tmp_path, loaded=False, devices=()))
    assert code == 1
    assert checks[0].status == "FAIL" and LOOPBACK_LOAD in text and "apt install v4l2loopback-dkms" in text
    assert "not usable yet" in text
    assert not any(c.label.startswith("PortraitCam can open") for c in checks)  # nothing to open


def test_a_module_without_devices_is_reloaded_with_one(tmp_path):
    code, text, checks = run_checks(fake_linux(tmp_path, devices=()))
    assert code == 1
    failed = [c for c in checks if c.status == "FAIL"]
    assert [c.label for c in failed] == ["a loopback video device exists"] and failed[0].fix == LOOPBACK_RELOAD


def test_a_device_you_cannot_write_names_the_group_to_join(tmp_path):
    root = fake_linux(tmp_path)
    code, text, checks = run_checks(root, access=lambda path, mode: False)
    assert code == 1
    failed = next(c for c in checks if c.status == "FAIL")
    assert failed.label == "the device can be written by you" and "permission denied" in failed.detail
    assert "usermod -aG" in failed.fix or "chmod" in failed.fix


def test_a_missing_device_node_is_a_failure(tmp_path):
    code, text, _ = run_checks(fake_linux(tmp_path, nodes=False))
    assert code == 1 and "no device node" in text


@pytest.mark.parametrize("exclusive", ["N,N,N,N", "0", "N"])
def test_exclusive_caps_off_is_a_warning_with_the_fix_not_a_failure(tmp_path, exclusive):
    code, text, checks = run_checks(fake_linux(tmp_path, exclusive=exclusive))
    caps = next(c for c in checks if "exclusive_caps" in c.label)
    assert caps.status == "WARN" and caps.fix == LOOPBACK_RELOAD
    assert code == 0 and "browsers will not list it" in text


def test_exclusive_caps_is_read_per_device(tmp_path):
    root = fake_linux(tmp_path, devices=(("video10", "PortraitCam"), ("video11", "Other")), exclusive="N,Y,N")
    _, _, checks = run_checks(root)
    assert next(c for c in checks if "exclusive_caps" in c.label).ok is True


def test_a_busy_device_fails_the_open_check_and_says_what_to_close(tmp_path):
    def busy():
        raise RuntimeError("device /dev/video10 is busy\nsecond line")
    code, text, checks = run_checks(fake_linux(tmp_path), opener=busy)
    assert code == 1
    assert checks[-1].status == "FAIL" and "busy; second line" in checks[-1].detail
    assert "close the other program" in text


def test_windows_reads_obs_registration():
    checks = windows_checks(registry_has=lambda key: key == vcam_check.OBS_WINDOWS_CLSID, environ={})
    assert [c.status for c in checks] == ["?", "OK"]
    checks = windows_checks(registry_has=lambda key: False, environ={})
    assert checks[-1].status == "FAIL" and "Start Virtual Camera" in checks[-1].fix
    assert windows_checks(registry_has=lambda key: None, environ={})[-1].status == "?"


def test_macos_needs_obs_and_its_activated_extension(tmp_path):
    (tmp_path / "Applications/OBS.app").mkdir(parents=True)
    active = f"*\t*\tTEAM\t{vcam_check.OBS_MAC_EXTENSION} (30.0/30.0)\tOBS Virtual Camera\t[activated enabled]"
    assert [c.status for c in macos_checks(tmp_path, 14, lambda: active)] == ["OK", "OK"]
    waiting = active.replace("[activated enabled]", "[activated waiting for user]")
    checks = macos_checks(tmp_path, 14, lambda: waiting)
    assert checks[-1].status == "FAIL" and "waiting for approval" in checks[-1].detail
    assert macos_checks(tmp_path, 14, lambda: None)[-1].status == "?"
    assert macos_checks(tmp_path / "empty", 14, lambda: "")[0].status == "FAIL"
    assert macos_checks(tmp_path, 12)[-1].status == "FAIL"  # no DAL plug-in before macOS 13


def test_check_camera_runs_from_the_command_line(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(vcam_check.sys, "platform", "linux")
    root = fake_linux(tmp_path)
    real = vcam_check.linux_checks
    monkeypatch.setattr(vcam_check, "linux_checks", lambda **kw: real(root, access=lambda p, m: True))
    monkeypatch.setattr(vcam_check, "_open_virtual_camera", lambda: "/dev/video10")
    assert entry.main(["--check-camera"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Virtual camera check (Linux):") and "usable" in out
    monkeypatch.setattr(vcam_check, "_open_virtual_camera", lambda: (_ for _ in ()).throw(RuntimeError("gone")))
    assert entry.main(["--check-camera"]) == 1
    assert "FAIL  PortraitCam can open the virtual camera: gone" in capsys.readouterr().out


def test_check_camera_on_this_machine_gives_a_verdict(capsys):
    code = vcam_check.main()
    out = capsys.readouterr().out
    assert code in (0, 1) and "Result:" in out
    assert code == 0 or "fix:" in out
