"""The one Chromium the app and the tests launch: Debian's package, never a downloaded browser (SPEC §1)."""

CHROMIUM_PATH = "/usr/bin/chromium"
# Headless in a container; no background traffic of its own, so every request it makes is the page's.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # WebRTC may otherwise send UDP straight to any address, around the outbound guard's proxy.
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
]
