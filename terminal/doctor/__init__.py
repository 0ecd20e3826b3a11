"""`scanpay doctor`: what is wrong with this unit, one line per check, with the fix.

``run_checks(config, probes)`` returns a :class:`Report`; :class:`Probes` holds the clocks,
the disk-usage function and the device openers, so tests inject each fault.
"""

from terminal.doctor.result import CheckResult, Report
from terminal.doctor.runner import Probes, run_checks
from terminal.doctor.system import DiskUsage

__all__ = ["CheckResult", "DiskUsage", "Probes", "Report", "run_checks"]
