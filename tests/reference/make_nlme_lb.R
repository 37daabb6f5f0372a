# nlme's Lindstrom-Bates numbers that tests/test_nlme_first_class.py compares with. Run from the repository root:
#   Rscript tests/reference/make_nlme_lb.R
# Writes tests/reference/extra_nlme_lb.json:
# * indometh: nlme(conc ~ SSbiexp(time, A1, lrc1, A2, lrc2), Indometh, pdDiag(A1 + lrc1 + A2), groups ~ Subject)
#   - "getinitial": from start = getInitial() on the pooled data (the start mixjax's self-start gives);
#   - "nlslist": with no start, as nlme runs it (nlsList per subject, then nlme.nlsList, which starts from the medians
#     of the per-subject estimates, written under "start"); nlme's default example;
#   - "fixed_point": from getInitial's start with pnlsTol = 1e-6: the PNLS run (nearly) to convergence. The default
#     pnlsTol = 1e-3 stops it early, so nlme's reported logLik depends on the start (the first two differ by 2e-3)
#     and is not the fixed point's (54.588).
# * fixed_point: the four nlme_* references (tests/reference/nlme_*.json, same start values) refitted with
#   pnlsTol = 1e-6.
# * self_start: the same four models written with nlme's self-starting functions, fitted from the start values
#   mixjax's self-start computes on the pooled data (hard-coded below; test_reference_nlme.py SELF_STARTING), so
#   that mixjax's path from those values can be compared with nlme's.
# * summary_orange: what summary() of the nlme_orange fit prints: the t-table (standard errors times
#   sqrt(N / (N - p)), nlme's adjustSigma for ML fits), the correlation of the fixed effects, the quantiles of the
#   standardized within-group residuals, AIC, BIC, logLik.
# * theoph_unstructured: Theoph with an unstructured (pdLogChol) covariance of lKe, lKa, lCl: StdDev and the
#   lower-triangular Corr that summary() prints (a near-singular fit: corr(lKe, lCl) = 0.995).
suppressMessages({library(nlme); library(jsonlite)})
summ <- function(m) {
  vc <- as.matrix(m$modelStruct$reStruct[[1]]) * m$sigma^2
  list(logLik = as.numeric(logLik(m)), numIter = m$numIter, fixef = as.list(fixef(m)),
       fixef_se = as.list(sqrt(diag(vcov(m)))), sigma = m$sigma, sd = as.list(sqrt(diag(vc))))
}
biexp <- function(...) nlme(conc ~ SSbiexp(time, A1, lrc1, A2, lrc2), data = Indometh,
                            fixed = A1 + lrc1 + A2 + lrc2 ~ 1, random = pdDiag(A1 + lrc1 + A2 ~ 1),
                            groups = ~ Subject, ...)
st <- getInitial(conc ~ SSbiexp(time, A1, lrc1, A2, lrc2), data = Indometh)
medians <- sapply(na.omit(coef(nlsList(conc ~ SSbiexp(time, A1, lrc1, A2, lrc2), data = Indometh))), median)
indometh <- list(
  getinitial = c(list(start = as.list(st)), summ(biexp(start = st))),
  nlslist = c(list(start = as.list(medians)), summ(biexp())),
  fixed_point = c(list(pnlsTol = 1e-6), summ(biexp(start = st, control = nlmeControl(pnlsTol = 1e-6)))))

tight <- nlmeControl(pnlsTol = 1e-6)
orange <- nlme(circumference ~ Asym / (1 + exp((xmid - age) / scal)), data = Orange, fixed = Asym + xmid + scal ~ 1,
               random = Asym ~ 1 | Tree, start = c(Asym = 192, xmid = 728, scal = 353))
fixed_point <- list(
  nlme_orange = update(orange, control = tight),
  nlme_loblolly = nlme(height ~ Asym + (R0 - Asym) * exp(-exp(lrc) * age), data = Loblolly, fixed = Asym + R0 + lrc ~ 1,
                       random = Asym ~ 1 | Seed, start = c(Asym = 103, R0 = -8.5, lrc = -3.3), control = tight),
  nlme_soybean = nlme(weight ~ Asym / (1 + exp((xmid - Time) / scal)), data = Soybean, fixed = Asym + xmid + scal ~ 1,
                      random = pdDiag(Asym + xmid + scal ~ 1), groups = ~ Plot,
                      start = c(Asym = 17, xmid = 52, scal = 7.5), control = tight),
  nlme_theoph = nlme(conc ~ Dose * exp(lKe + lKa - lCl) * (exp(-exp(lKe) * Time) - exp(-exp(lKa) * Time)) /
                       (exp(lKa) - exp(lKe)), data = Theoph, fixed = lKe + lKa + lCl ~ 1,
                     random = pdDiag(lKe + lKa + lCl ~ 1), groups = ~ Subject,
                     start = c(lKe = -2.4, lKa = 0.45, lCl = -3.2), control = tight))
fixed_point <- lapply(fixed_point, function(m) list(logLik = as.numeric(logLik(m)), numIter = m$numIter))

ss <- function(model, data, random, start) {
  m <- eval(bquote(nlme(.(model), data = data, fixed = .(as.formula(paste(paste(names(start), collapse = " + "), "~ 1"))),
                        random = random, start = start)))
  list(logLik = as.numeric(logLik(m)), numIter = m$numIter, fixef = as.list(fixef(m)))
}
self_start <- list(
  nlme_orange = ss(circumference ~ SSlogis(age, Asym, xmid, scal), Orange, Asym ~ 1 | Tree,
                   c(Asym = 192.6875902134634, xmid = 728.7563746597696, scal = 353.5336581820346)),
  nlme_loblolly = ss(height ~ SSasymp(age, Asym, R0, lrc), Loblolly, Asym ~ 1 | Seed,
                     c(Asym = 102.2621140323411, R0 = -8.533057019476988, lrc = -3.246130358256753)),
  nlme_soybean = ss(weight ~ SSlogis(Time, Asym, xmid, scal), Soybean, list(Plot = pdDiag(Asym + xmid + scal ~ 1)),
                    c(Asym = 18.418260617973477, xmid = 53.95629610242449, scal = 8.153558099740623)),
  nlme_theoph = ss(conc ~ SSfol(Dose, Time, lKe, lKa, lCl), Theoph, list(Subject = pdDiag(lKe + lKa + lCl ~ 1)),
                   c(lKe = -2.524238756350655, lKa = 0.39922668566972774, lCl = -3.248262629382363)))

s <- summary(orange)
summary_orange <- list(tTable = lapply(as.data.frame(s$tTable), as.numeric), rows = rownames(s$tTable),
                       corFixed = s$corFixed[lower.tri(s$corFixed)], residuals = as.list(s$residuals),
                       AIC = s$AIC, BIC = s$BIC, logLik = as.numeric(s$logLik))

th <- nlme(conc ~ SSfol(Dose, Time, lKe, lKa, lCl), data = Theoph, fixed = lKe + lKa + lCl ~ 1,
           random = lKe + lKa + lCl ~ 1 | Subject, start = c(lKe = -2.4, lKa = 0.45, lCl = -3.2))
vc <- VarCorr(th)
theoph_unstructured <- list(logLik = as.numeric(logLik(th)), stddev = as.list(as.numeric(vc[, "StdDev"])),
                            names = rownames(vc), corr = as.numeric(cov2cor(as.matrix(th$modelStruct$reStruct[[1]]))[
                              lower.tri(diag(3))]))

write_json(list(id = "extra_nlme_lb", engine = paste("nlme", packageVersion("nlme")),
                indometh = c(list(dataset = "Indometh"), indometh), fixed_point = fixed_point, self_start = self_start,
                summary_orange = summary_orange, theoph_unstructured = theoph_unstructured),
           "tests/reference/extra_nlme_lb.json", auto_unbox = TRUE, digits = NA, pretty = TRUE)
