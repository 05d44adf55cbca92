"""cocotb testbenches of the URSC engines (rtl/ursc): DPE, RVPE unit and UpE, each on its own
top built by :func:`hybridgen.verif.ursc.designs.component_design`."""
