"""ClassBench-style rule sets generated here (acl, fw, ipc flavours), so nothing is downloaded."""
from ._generator import KINDS as KINDS
from ._generator import GeneratorConfig as GeneratorConfig
from ._generator import generate_ranges as generate_ranges
from ._generator import generate_text as generate_text
