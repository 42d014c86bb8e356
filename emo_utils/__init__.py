"""emo_utils: the tested package behind the emotion-fusion notebooks and the ``emo`` command.

Importing it sets one default before numba (librosa's compiler) loads: ``NUMBA_CPU_NAME=generic``. Otherwise
numba compiles for the CPU that LLVM names from the processor's family and model number, with every feature the
processor reports. A virtual machine that hides its model ("Intel(R) Xeon(R) Processor") can get a name that does
not match those features (e.g. "rocketlake" beside AMX and AVX-512 FP16), and code compiled for such a mix has
crashed the process (a segfault in librosa.yin's ``localmin`` gufunc). Generic x86-64 (or AArch64) code runs on
every machine and computes the same numbers on each; librosa's numba kernels are on no hot path here. A
``NUMBA_CPU_NAME`` set in the environment is kept. Import emo_utils before librosa or numba for it to apply.
"""

import os

os.environ.setdefault("NUMBA_CPU_NAME", "generic")
