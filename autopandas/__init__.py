"""autopandas: synthesize pandas programs from input/output examples (AutoPandas, OOPSLA 2019).

A DSL of whitelisted pandas calls (``dsl``), argument generators built only from choice
operators (``generators``, ``choices``), sandboxed candidate execution (``sandbox``), AutoPandas
equality (``equality``), example-file reading with the CSV index rule (``io``) and a
generate-and-verify enumerative search (``search``). CLI: ``python -m autopandas synth``.
"""
from __future__ import annotations

from .choices import Chooser as Chooser
from .choices import Decision as Decision
from .choices import Infeasible as Infeasible
from .choices import RandomChooser as RandomChooser
from .choices import ReplayChooser as ReplayChooser
from .choices import enumerate_choices as enumerate_choices
from .choices import run_recorded as run_recorded
from .dsl import Arg as Arg
from .dsl import Function as Function
from .dsl import functions as functions
from .equality import csv_matches as csv_matches
from .equality import equal as equal
from .io import InputError as InputError
from .io import read_frame as read_frame
from .program import Program as Program
from .program import Step as Step
from .program import replay as replay
from .program import sample_program as sample_program
from .sandbox import Sandbox as Sandbox
from .search import SearchConfig as SearchConfig
from .search import SearchResult as SearchResult
from .search import synthesize as synthesize
