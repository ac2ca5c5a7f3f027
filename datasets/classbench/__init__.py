"""ClassBench-style rule sets generated here (acl, fw, ipc flavours, or a ClassBench parameter
file's distributions and address trees), so nothing is downloaded."""
from ._generator import KINDS as KINDS
from ._generator import GeneratorConfig as GeneratorConfig
from ._generator import generate_ranges as generate_ranges
from ._generator import generate_rules as generate_rules
from ._generator import generate_text as generate_text
from ._params import PAIR_CLASSES as PAIR_CLASSES
from ._params import AddressTree as AddressTree
from ._params import ParamsError as ParamsError
from ._params import SeedParams as SeedParams
from ._params import read_params as read_params
