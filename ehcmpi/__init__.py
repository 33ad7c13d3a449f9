"""ehcmpi: patient master index server for Chinese hospitals.

Implements the NHC guideline 《医疗卫生机构患者主索引标准统一技术指南（2023 版）》.
"""

__version__ = "0.1.0"
