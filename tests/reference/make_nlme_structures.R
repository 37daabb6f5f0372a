# nlme with a structured random-effects covariance (pdIdent) for tests/test_structures.py.
# Run from the repository root: Rscript tests/reference/make_nlme_structures.R
library(nlme); library(jsonlite)
Th <- read.csv("mixjax/datasets/data/Theoph.csv"); Th$Subject <- factor(Th$Subject)
m <- nlme(conc ~ SSfol(Dose, Time, lKe, lKa, lCl), data = Th, fixed = lKe + lKa + lCl ~ 1,
          random = list(Subject = pdIdent(lKe + lKa + lCl ~ 1)), start = c(lKe = -2.5, lKa = 0.5, lCl = -3))
out <- list(nlme_theoph_pdident = list(
  model = "nlme(conc ~ SSfol(Dose, Time, lKe, lKa, lCl), Theoph, fixed = lKe + lKa + lCl ~ 1, random = list(Subject = pdIdent(lKe + lKa + lCl ~ 1)), start = c(lKe = -2.5, lKa = 0.5, lCl = -3))",
  method = "ML", logLik = as.numeric(logLik(m)), df = attr(logLik(m), "df"), fixef = as.list(fixef(m)),
  fixef_se = as.list(sqrt(diag(m$varFix))), re_sd = as.numeric(VarCorr(m)[1, "StdDev"]), sigma = m$sigma,
  note = "nlme 3.1-162 has no pdCompSymm for nonlinear models ('Haven't written the compound symmetry case')"))
write(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/reference/extra_nlme_structures.json")
