"""`python main.py --check-camera`: is the virtual-camera path usable on this system, and if not,
the exact command that fixes each missing piece.

Linux: the v4l2loopback module, a loopback device, write access to it, exclusive_caps=1 (browsers
list only capture-only devices). Windows: OBS's DirectShow camera (the registry key pyvirtualcam
opens). macOS: OBS and its camera extension (13+) or DAL plugin (older). Everywhere, last: whether
pyvirtualcam opens the camera, which is the final word. The file-system checks take a root path,
so tests (and a curious user) can point them at a copy of /sys and /dev.
"""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

LOOPBACK_LOAD = 'sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label="PortraitCam"'
LOOPBACK_RELOAD = f"sudo modprobe -r v4l2loopback && {LOOPBACK_LOAD}"
LOOPBACK_INSTALL = "sudo apt install v4l2loopback-dkms   (Fedora: sudo dnf install v4l2loopback; Arch: sudo pacman -S v4l2loopback-dkms)"
OBS_WINDOWS_CLSID = r"CLSID\{A3FCE0F5-3493-419F-958A-ABA1250EC20B}"  # OBS Virtual Camera (DirectShow)
OBS_MAC_EXTENSION = "com.obsproject.obs-studio.mac-camera-extension"
OBS_MAC_DAL_PLUGIN = "Library/CoreMediaIO/Plug-Ins/DAL/obs-mac-virtualcam.plugin"
OBS_DOWNLOAD = "https://obsproject.com"


@dataclass
class Check:
    """One line of the report. ok: True, False, or None when it could not be checked here.
    required=False: only some apps need it (a failure is a warning, not 'unusable')."""

    label: str
    ok: bool | None
    detail: str = ""
    fix: str = ""
    required: bool = True

    @property
    def status(self) -> str:
        if self.ok is None:
            return "?"
        if self.ok:
            return "OK"
        return "FAIL" if self.required else "WARN"


# --- Linux -----------------------------------------------------------------------------------------
def loopback_devices(root: str | os.PathLike = "/") -> list[tuple[str, str]]:
    """(device node, card label) of the v4l2loopback devices: the virtual video4linux devices."""
    root = Path(root)
    devices = []
    folder = root / "sys/devices/virtual/video4linux"
    try:
        entries = sorted(folder.iterdir(), key=lambda p: (len(p.name), p.name))
    except OSError:
        return devices
    for entry in entries:
        try:
            label = (entry / "name").read_text(errors="replace").strip()
        except OSError:
            label = ""
        devices.append((f"/dev/{entry.name}", label))
    return devices


def _exclusive_caps(root: Path) -> list[bool] | None:
    """Per device, whether exclusive_caps is on (the module prints an array: 'Y,N,...' or '1,0')."""
    try:
        text = (root / "sys/module/v4l2loopback/parameters/exclusive_caps").read_text().strip()
    except OSError:
        return None
    return [item.strip().upper() in {"Y", "1"} for item in text.split(",") if item.strip()]


def _module_installed(root: Path) -> bool | None:
    """Whether a v4l2loopback module file exists for the running kernel; None if unknown."""
    modules = root / "lib/modules" / platform.release()
    if not modules.is_dir():
        return None
    try:
        return any(modules.rglob("v4l2loopback.ko*"))
    except OSError:
        return None


def linux_checks(root: str | os.PathLike = "/", access: Callable[[str, int], bool] = os.access) -> list[Check]:
    root = Path(root)
    checks = []
    loaded = (root / "sys/module/v4l2loopback").is_dir()
    if loaded:
        checks.append(Check("v4l2loopback kernel module loaded", True))
    else:
        installed = _module_installed(root)
        fix = LOOPBACK_LOAD if installed else f"{LOOPBACK_INSTALL}\nthen: {LOOPBACK_LOAD}"
        detail = ("installed but not loaded" if installed else
                  "not installed for this kernel" if installed is False else "not loaded")
        checks.append(Check("v4l2loopback kernel module loaded", False, detail, fix))
    devices = loopback_devices(root)
    if devices:
        names = ", ".join(f"{node} ({label})" if label else node for node, label in devices)
        checks.append(Check("a loopback video device exists", True, names))
    else:
        checks.append(Check("a loopback video device exists", False, "none",
                            LOOPBACK_RELOAD if loaded else LOOPBACK_LOAD))
    if devices:
        nodes = [root / node.lstrip("/") for node, _ in devices]
        present = [node for node in nodes if node.exists()]
        writable = [node for node in present if access(str(node), os.W_OK)]
        if writable:
            checks.append(Check("the device can be written by you", True,
                                ", ".join(f"/{node.relative_to(root)}" for node in writable)))
        elif not present:
            checks.append(Check("the device can be written by you", False,
                                "no device node in /dev for it", LOOPBACK_RELOAD))
        else:
            group = _group_of(present[0])
            fix = (f"sudo usermod -aG {group} $USER   (then log out and in again)" if group
                   else f"sudo chmod a+rw {' '.join(f'/{n.relative_to(root)}' for n in present)}")
            checks.append(Check("the device can be written by you", False,
                                "permission denied" + (f" (group '{group}')" if group else ""), fix))
    caps = _exclusive_caps(root) if loaded else None
    if loaded:
        count = max(1, len(devices))
        if caps is None:
            checks.append(Check("exclusive_caps=1 (browsers list the camera)", None,
                                "this v4l2loopback does not report it", required=False))
        elif any(caps[:count]):
            checks.append(Check("exclusive_caps=1 (browsers list the camera)", True, required=False))
        else:
            checks.append(Check("exclusive_caps=1 (browsers list the camera)", False,
                                "off: Chrome, Edge and Firefox will not list the camera (call apps do)",
                                LOOPBACK_RELOAD, required=False))
    return checks


def _group_of(path: Path) -> str | None:
    try:
        import grp

        return grp.getgrgid(path.stat().st_gid).gr_name
    except (ImportError, KeyError, OSError):
        return None


# --- Windows ---------------------------------------------------------------------------------------
def windows_checks(registry_has: Callable[[str], bool] | None = None,
                   environ: dict | None = None) -> list[Check]:
    environ = os.environ if environ is None else environ
    if registry_has is None:
        registry_has = _windows_registry_has
    registered = registry_has(OBS_WINDOWS_CLSID)
    folders = [Path(environ[k]) / "obs-studio" for k in ("ProgramFiles", "ProgramFiles(x86)") if environ.get(k)]
    installed = next((f for f in folders if (f / "bin" / "64bit" / "obs64.exe").is_file()), None)
    checks = [Check("OBS Studio installed", True if installed else None,
                    str(installed) if installed else "not in Program Files (it may be elsewhere)",
                    "" if installed else f"install OBS Studio 26 or newer from {OBS_DOWNLOAD}",
                    required=False)]
    if registered is None:
        checks.append(Check("OBS Virtual Camera registered", None, "the registry cannot be read here"))
    else:
        checks.append(Check("OBS Virtual Camera registered", registered,
                            "" if registered else "its DirectShow camera is not registered",
                            "" if registered else "open OBS Studio, click 'Start Virtual Camera' once, "
                                                  "then 'Stop Virtual Camera'"))
    return checks


def _windows_registry_has(key: str) -> bool | None:
    try:
        import winreg
    except ImportError:
        return None
    try:
        winreg.CloseKey(winreg.OpenKey(winreg.HKEY_CLASSES_ROOT, key))
        return True
    except OSError:
        return False


# --- macOS -----------------------------------------------------------------------------------------
def macos_checks(root: str | os.PathLike = "/", macos_major: int | None = None,
                 extensions_list: Callable[[], str | None] | None = None) -> list[Check]:
    root = Path(root)
    if macos_major is None:
        try:
            macos_major = int(platform.mac_ver()[0].split(".")[0])
        except ValueError:
            macos_major = 13
    app = root / "Applications/OBS.app"
    checks = [Check("OBS Studio installed", app.is_dir(), "/Applications/OBS.app" if app.is_dir() else "not found",
                    "" if app.is_dir() else f"install OBS Studio 30 or newer from {OBS_DOWNLOAD}")]
    if macos_major >= 13:  # pyvirtualcam uses OBS's camera extension from macOS 13 on
        listing = (extensions_list or _system_extensions)()
        if listing is None:
            checks.append(Check("OBS camera extension activated", None,
                                "systemextensionsctl is not available to ask"))
        else:
            lines = [line for line in listing.splitlines() if OBS_MAC_EXTENSION in line]
            active = any("activated enabled" in line for line in lines)
            detail = "activated" if active else ("installed, waiting for approval" if lines else "not installed")
            checks.append(Check("OBS camera extension activated", active, detail,
                                "" if active else "open OBS, click 'Start Virtual Camera' once, allow the "
                                "system extension in System Settings > Privacy & Security (restart if "
                                "asked), then 'Stop Virtual Camera'"))
    else:
        plugin = root / OBS_MAC_DAL_PLUGIN
        checks.append(Check("OBS virtual camera plug-in installed", plugin.is_dir(), f"/{OBS_MAC_DAL_PLUGIN}",
                            "" if plugin.is_dir() else "open OBS, click 'Start Virtual Camera' once, then stop it"))
    return checks


def _system_extensions() -> str | None:
    if shutil.which("systemextensionsctl") is None:
        return None
    try:
        return subprocess.run(["systemextensionsctl", "list"], capture_output=True, text=True,
                              timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None


# --- the final word: pyvirtualcam opens it ---------------------------------------------------------
def open_check(opener: Callable[[], str] | None = None) -> Check:
    """Open the virtual camera as PortraitCam would (no frame is sent) and close it again."""
    opener = opener or _open_virtual_camera
    try:
        device = opener()
    except Exception as exc:  # noqa: BLE001 - pyvirtualcam's backends raise several types
        reason = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        busy = "busy" in reason.lower()
        return Check("PortraitCam can open the virtual camera", False, reason or type(exc).__name__,
                     "close the other program that is sending to it (another PortraitCam, OBS)" if busy else "")
    return Check("PortraitCam can open the virtual camera", True, device)


def _open_virtual_camera() -> str:
    import pyvirtualcam

    with pyvirtualcam.Camera(640, 480, 30, fmt=pyvirtualcam.PixelFormat.BGR) as camera:
        return camera.device


def checks_for(system: str = sys.platform, **kw) -> list[Check]:
    if system.startswith("linux"):
        return linux_checks(**kw)
    if system.startswith("win"):
        return windows_checks(**kw)
    if system == "darwin":
        return macos_checks(**kw)
    return [Check("a supported system", False, f"{system}: pyvirtualcam supports Linux, Windows and macOS")]


def report(checks: Iterable[Check], system: str = sys.platform, out=None) -> int:
    """Print the checks, each fix under its failure; 0 when the virtual camera is usable, else 1."""
    out = out or sys.stdout
    checks = list(checks)
    name = {"linux": "Linux", "win32": "Windows", "darwin": "macOS"}.get(system, system)
    print(f"Virtual camera check ({name}):", file=out)
    for check in checks:
        print(f"  {check.status:<4}  {check.label}{': ' + check.detail if check.detail else ''}", file=out)
        for number, line in enumerate(check.fix.splitlines()):
            print(f"        {'fix: ' if number == 0 else '     '}{line}", file=out)
    failed = [c for c in checks if c.required and c.ok is False]
    opened = next((c for c in checks if c.label.startswith("PortraitCam can open")), None)
    usable = not failed and (opened is None or opened.ok is True)
    warnings = [c for c in checks if not c.required and c.ok is False]
    if usable:
        note = (" (browsers will not list it until the warning above is fixed)" if warnings else "")
        print(f"Result: the virtual camera is usable{note}.", file=out)
    else:
        print("Result: the virtual camera is not usable yet: run the fixes above, then "
              "`python main.py --check-camera` again.", file=out)
    return 0 if usable else 1


def main(opener: Callable[[], str] | None = None, system: str = sys.platform, **kw) -> int:
    checks = checks_for(system, **kw)
    # Opening is the final word, and the only check that sees a busy device; it is skipped when
    # something it needs is missing, since pyvirtualcam's own message would only repeat it.
    if not any(c.required and c.ok is False for c in checks):
        checks.append(open_check(opener))
    return report(checks, system)
