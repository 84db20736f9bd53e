"""The server's process once its application is loaded (core/startup.py): what it loaded is
out of the garbage collector's walk, so a full collection in the middle of a page walks the
requests' objects, not Django's (bench `find`: 115-137 ms collections, none after)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import gc, sys
import securitycenter.wsgi
print(gc.get_freeze_count(), "firmware_updates.views.device_types" in sys.modules, len(gc.get_objects()))
"""


def test_the_wsgi_process_freezes_what_it_loaded_with_every_view(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "SECRET_KEY": "test-only", "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
           "VAR_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    frozen, views_loaded, walked = out.stdout.split()
    assert views_loaded == "True"  # the URLconf's views: loaded before the freeze, not by the first page
    assert int(frozen) > 50_000
    assert int(walked) < int(frozen) // 10  # what a full collection still walks
