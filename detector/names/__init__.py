"""The name signal: how closely a new project name imitates a popular project.

>>> from detector.names import check_name
>>> check_name("reqeusts").best.target
'requests'
"""

from detector.names.attacks import RecentAttacks
from detector.names.burst_memory import BurstMemory
from detector.names.bursts import is_member as is_burst_member
from detector.names.checker import NameChecker, check_name, check_names, default_checker
from detector.names.echoes import EchoMemory, is_echo_candidate
from detector.names.normalize import InvalidName, canonical
from detector.names.pairs import is_pair_member
from detector.names.results import NameMatch, NameResult

__all__ = [
    "BurstMemory",
    "EchoMemory",
    "InvalidName",
    "NameChecker",
    "NameMatch",
    "NameResult",
    "RecentAttacks",
    "canonical",
    "check_name",
    "check_names",
    "default_checker",
    "is_burst_member",
    "is_echo_candidate",
    "is_pair_member",
]
