# References for nlme / glmmTMB covariance and variance structures that ../shared does not have: continuous-time
# and ARMA residual correlations, unstructured (corSymm) and compound-symmetry gls, the varFunc classes (varExp,
# varPower by stratum, varConstPower, varFixed, varComb), pdDiag / pdIdent / pdCompSymm random effects, the Exam
# tutorial models through lme(), glmmTMB diag / toep / us terms, and a biexponential nlme with three diagonal
# random effects.
# Run from the repository root: Rscript tests/reference/make_structures.R
# (writes tests/reference/extra_structures.json and tests/reference/data/BodyWeight.csv; about a minute).
#
# Layout: one top-level key per model id, plus `skipped` (id -> call and error / reason) and `_meta` (versions,
# data notes). Each model's `model` is the exact R call that was evaluated (text parsed and run as is), on data
# read from the CSVs (not nlme's groupedData objects, so every grouping is spelled out in the call).
# Non-finite numbers are written as null.
suppressMessages({library(nlme); library(glmmTMB); library(jsonlite)})
data_dir <- "mixjax/datasets/data"
out_dir <- "tests/reference"
columns <- fromJSON(file.path(data_dir, "columns.json"), simplifyVector = FALSE)
read_data <- function(name) {
  d <- read.csv(file.path(data_dir, paste0(name, ".csv")), stringsAsFactors = FALSE)
  spec <- columns[[name]]
  ordered <- unlist(spec$ordered)
  for (col in unlist(spec$factors)) {
    d[[col]] <- factor(as.character(d[[col]]), levels = unlist(spec$levels[[col]]), ordered = col %in% ordered)
    stopifnot(!anyNA(d[[col]]))
  }
  d
}

# -- data --------------------------------------------------------------------------------------------------------
Orthodont <- read_data("Orthodont")
Ovary <- read_data("Ovary")
sleepstudy <- read_data("sleepstudy")
Exam <- read_data("Exam")
Indometh <- read_data("Indometh")

# BodyWeight comes from nlme; written once to tests/reference/data/BodyWeight.csv and read back from there.
# Rat is an ordered factor in nlme (levels ordered by maximum weight); the same level order is used here and
# recorded in _meta. Level order does not change any fitted value below.
bw_levels <- list(Rat = levels(nlme::BodyWeight$Rat), Diet = levels(nlme::BodyWeight$Diet))
dir.create(file.path(out_dir, "data"), showWarnings = FALSE)
bw_csv <- file.path(out_dir, "data", "BodyWeight.csv")
write.csv(as.data.frame(nlme::BodyWeight)[, c("weight", "Time", "Rat", "Diet")], bw_csv, row.names = FALSE)
BodyWeight <- read.csv(bw_csv, stringsAsFactors = FALSE)
BodyWeight$Rat <- factor(as.character(BodyWeight$Rat), levels = bw_levels$Rat, ordered = TRUE)
BodyWeight$Diet <- factor(as.character(BodyWeight$Diet), levels = bw_levels$Diet)
stopifnot(!anyNA(BodyWeight$Rat), !anyNA(BodyWeight$Diet))

# -- helpers -----------------------------------------------------------------------------------------------------
num <- function(x) { x <- as.numeric(x); x[!is.finite(x)] <- NA; x }
named <- function(x) { n <- names(x); x <- num(x); if (is.null(n)) as.list(x) else as.list(setNames(x, n)) }
matrix_json <- function(m) list(rownames = rownames(m), colnames = colnames(m),
                                values = lapply(seq_len(nrow(m)), function(i) num(m[i, ])))
fmla <- function(f) paste(deparse(f, width.cutoff = 500L), collapse = " ")

# evaluate a call three times (median elapsed time), keeping warnings / messages of the first fit
fit_timed <- function(call_text) {
  w <- character(0); msg <- character(0)
  m <- withCallingHandlers(eval(parse(text = call_text), envir = globalenv()),
    warning = function(c) { w <<- c(w, conditionMessage(c)); invokeRestart("muffleWarning") },
    message = function(c) { msg <<- c(msg, trimws(conditionMessage(c))); invokeRestart("muffleMessage") })
  times <- vapply(1:3, function(i) system.time(suppressWarnings(suppressMessages(
    eval(parse(text = call_text), envir = globalenv()))))[["elapsed"]], numeric(1))
  list(fit = m, seconds = median(times), warnings = unique(w), messages = unique(msg))
}

cor_block <- function(cs) {
  if (is.null(cs)) return(NULL)
  nat <- coef(cs, unconstrained = FALSE)
  out <- list(class = class(cs)[1], formula = fmla(formula(cs)))
  if (inherits(cs, "corSymm")) {
    # nlme returns these unnamed; they are the upper triangle taken row by row: (1,2), (1,3), ..., (n-1,n)
    cm <- corMatrix(cs)
    cm <- cm[[which.max(vapply(cm, nrow, integer(1)))]]
    n <- nrow(cm)
    idx <- which(upper.tri(cm), arr.ind = TRUE)
    idx <- idx[order(idx[, 1], idx[, 2]), , drop = FALSE]
    names(nat) <- sprintf("cor(%d,%d)", idx[, 1], idx[, 2])
    stopifnot(isTRUE(all.equal(unname(num(cm[idx])), unname(num(nat)))))
    out$natural <- named(nat)
    out$corr_matrix <- list(values = lapply(seq_len(n), function(i) num(cm[i, ])),
                            note = "positions 1..n are the observation index within Subject (here ages 8, 10, 12, 14)")
  } else {
    out$natural <- named(nat)
  }
  if (inherits(cs, "corExp") || inherits(cs, "corCAR1") || inherits(cs, "corARMA")) out$fixed <- isTRUE(attr(cs, "fixed"))
  if (inherits(cs, "corExp")) out$nugget <- isTRUE(attr(cs, "nugget"))
  if (inherits(cs, "corARMA")) out$p_q <- list(p = attr(cs, "p"), q = attr(cs, "q"))
  out$unconstrained <- num(coef(cs, unconstrained = TRUE))
  out
}
`%||%` <- function(a, b) if (is.null(a)) b else a

var_block <- function(vs) {
  if (is.null(vs)) return(NULL)
  f <- formula(vs)
  ftxt <- if (is.list(f)) lapply(f, fmla) else fmla(f)
  out <- list(class = class(vs)[1], formula = ftxt,
              natural = named(coef(vs, unconstrained = FALSE)),
              unconstrained = num(coef(vs, unconstrained = TRUE)))
  if (inherits(vs, "varComb")) {
    out$components <- lapply(vs, function(v) list(class = class(v)[1], formula = fmla(formula(v)),
      natural = named(coef(v, unconstrained = FALSE)), unconstrained = num(coef(v, unconstrained = TRUE)),
      groupNames = attr(v, "groupNames")))
  }
  if (!is.null(attr(vs, "groupNames"))) out$groupNames <- attr(vs, "groupNames")
  if (inherits(vs, "varIdent")) out$note <- "natural = SD ratio of each stratum to the first in groupNames (the reference, ratio 1)"
  out
}

re_blocks <- function(m) {  # single grouping level: covariance of the random effects and its summaries
  re <- m$modelStruct$reStruct
  stopifnot(length(re) == 1)
  pd <- re[[1]]
  cv <- pdMatrix(pd) * m$sigma^2
  sds <- sqrt(diag(cv))
  pf <- formula(pd)
  pf <- if (is.list(pf)) paste(vapply(pf, fmla, character(1)), collapse = ", ") else fmla(pf)
  out <- list(group = names(re), pdClass = class(pd)[1], pd_formula = pf,
              re_sd = named(sds), re_cov = matrix_json(cv))
  if (nrow(cv) > 1) out$re_cor <- matrix_json(cov2cor(cv))
  out$reStruct_natural <- named(coef(re, unconstrained = FALSE))
  out$reStruct_unconstrained <- num(coef(re, unconstrained = TRUE))
  out$varcorr_table <- c(lapply(seq_along(sds), function(i) list(name = names(sds)[i], variance = num(cv[i, i]),
                                                                 stddev = num(sds[i]))),
                         list(list(name = "Residual", variance = num(m$sigma^2), stddev = num(m$sigma))))
  out
}

common_ll <- function(m) {
  ll <- logLik(m)
  list(logLik = num(ll), df = attr(ll, "df"), AIC = num(AIC(m)), BIC = num(BIC(m)))
}

apvar_note <- function(m) if (is.character(m$apVar)) m$apVar else "ok"

refs <- list()
skipped <- list()

run_nlme <- function(id, call_text, dataset, notes = NULL) {
  cat(id, "...\n")
  r <- tryCatch(fit_timed(call_text), error = function(e) e)
  if (inherits(r, "error")) {
    skipped[[id]] <<- list(model = call_text, error = conditionMessage(r))
    cat("  SKIPPED:", conditionMessage(r), "\n")
    return(invisible(NULL))
  }
  m <- r$fit
  is_lme <- inherits(m, "lme")
  fe <- if (is_lme) fixef(m) else coef(m)
  vc <- if (is_lme) m$varFix else m$varBeta
  e <- list(id = id, dataset = dataset, engine = paste("nlme", packageVersion("nlme")),
            kind = if (inherits(m, "nlme")) "nlme" else if (is_lme) "lme" else "gls",
            model = call_text, method = m$method, nobs = m$dims$N)
  if (is_lme) e$ngroups <- as.list(m$dims$ngrps[seq_len(m$dims$Q)])
  e$fixef <- named(fe)
  e$fixef_se <- named(setNames(sqrt(diag(vc)), names(fe)))
  if (is_lme) e <- c(e, re_blocks(m))
  e$sigma <- num(m$sigma)
  e$corStruct <- cor_block(m$modelStruct$corStruct) %||% setNames(list(), character(0))
  e$varStruct <- var_block(m$modelStruct$varStruct) %||% setNames(list(), character(0))
  e <- c(e, common_ll(m))
  e$apVar <- apvar_note(m)
  if (!is.null(m$numIter)) e$numIter <- m$numIter
  e$r_fit_seconds <- r$seconds
  if (length(r$warnings)) e$warnings <- as.list(r$warnings)
  if (length(r$messages)) e$messages <- as.list(r$messages)
  if (!is.null(notes)) e$notes <- notes
  refs[[id]] <<- e
  cat(sprintf("  logLik %.10g  df %d  apVar %s  %.3fs\n", e$logLik, e$df, e$apVar, e$seconds %||% r$seconds))
  invisible(m)
}

# glmmTMB ---------------------------------------------------------------------------------------------------------
tmb_params <- function(structure, sd, corr) {
  n <- length(sd)
  switch(structure,
    diag = list(sd = named(sd), note = "one SD per term, correlations fixed at 0"),
    us = list(sd = named(sd), corr = matrix_json(corr), note = "unstructured: free SDs and correlations"),
    toep = list(sd = named(sd), rho_by_lag = if (n > 1) setNames(as.list(num(corr[1, -1])), paste0("lag", seq_len(n - 1))),
                note = "heterogeneous Toeplitz: one SD per level, corr(i, j) = rho_|i-j|"),
    cs = list(sd = named(sd), rho = num(corr[1, 2]), note = "heterogeneous compound symmetry"),
    list(sd = named(sd), corr = matrix_json(corr)))
}

run_tmb <- function(id, call_text, dataset, notes = NULL) {
  cat(id, "...\n")
  r <- tryCatch(fit_timed(call_text), error = function(e) e)
  if (inherits(r, "error")) {
    skipped[[id]] <<- list(model = call_text, error = conditionMessage(r))
    cat("  SKIPPED:", conditionMessage(r), "\n")
    return(invisible(NULL))
  }
  m <- r$fit
  conv <- list(code = m$fit$convergence, message = m$fit$message, pdHess = isTRUE(m$sdr$pdHess),
               max_abs_gradient = num(max(abs(m$sdr$gradient.fixed))))
  fe <- fixef(m)$cond
  rs <- m$modelInfo$reStruc$condReStruc
  code_names <- names(glmmTMB:::.valid_covstruct)
  vcs <- VarCorr(m)$cond
  varcorr <- lapply(seq_along(rs), function(i) {
    v <- vcs[[i]]
    sd <- attr(v, "stddev")
    corr <- attr(v, "correlation")
    if (is.null(corr)) corr <- diag(length(sd))
    dimnames(corr) <- list(names(sd), names(sd))
    structure <- code_names[match(rs[[i]]$blockCode, glmmTMB:::.valid_covstruct)]
    list(group = names(vcs)[i], term = names(rs)[i], structure = structure, sd = named(sd),
         corr = matrix_json(corr), params = tmb_params(structure, sd, corr))
  })
  ll <- logLik(m)
  betad <- m$fit$par[names(m$fit$par) == "betad"]
  e <- list(id = id, dataset = dataset, engine = paste("glmmTMB", packageVersion("glmmTMB")), kind = "tmb",
            model = call_text, call = call_text, formula = fmla(formula(m)),
            family = family(m)$family, link = family(m)$link,
            method = if (isTRUE(m$modelInfo$REML)) "REML" else "ML", nobs = nobs(m),
            ngroups = as.list(vapply(m$modelInfo$reTrms$cond$flist, nlevels, integer(1))),
            fixef = named(fe), fixef_se = named(sqrt(diag(vcov(m)$cond))),
            varcorr = varcorr, theta = num(getME(m, "theta")),
            sigma = num(sigma(m)), dispersion = num(sigma(m)), betad = if (length(betad)) num(betad) else NULL,
            logLik = num(ll), df = attr(ll, "df"), AIC = num(AIC(m)), BIC = num(BIC(m)),
            convergence = conv, r_fit_seconds = r$seconds)
  if (length(r$warnings)) e$warnings <- as.list(r$warnings)
  if (length(r$messages)) e$messages <- as.list(r$messages)
  if (!is.null(notes)) e$notes <- notes
  refs[[id]] <<- e
  cat(sprintf("  logLik %.10g  df %d  conv %d pdHess %s  %.3fs\n", e$logLik, e$df, conv$code, conv$pdHess, r$seconds))
  invisible(m)
}

# -- 1, 2: BodyWeight, continuous-time correlations -------------------------------------------------------------
run_nlme("lme_bodyweight_car1",
  "lme(weight ~ Time * Diet, data = BodyWeight, random = ~ Time | Rat, correlation = corCAR1(form = ~ Time | Rat))",
  "BodyWeight", "REML. Continuous-time AR(1): corr = Phi^|t_i - t_j| with Time in days (1, 8, ..., 64, plus day 44).")
run_nlme("lme_bodyweight_exp",
  "lme(weight ~ Time * Diet, data = BodyWeight, random = ~ Time | Rat, correlation = corExp(form = ~ Time | Rat))",
  "BodyWeight", "REML. corExp: corr = exp(-|t_i - t_j| / range); same model as corCAR1 with Phi = exp(-1/range).")
run_nlme("lme_bodyweight_exp_nugget",
  "lme(weight ~ Time * Diet, data = BodyWeight, random = ~ Time | Rat, correlation = corExp(form = ~ Time | Rat, nugget = TRUE))",
  "BodyWeight", "REML. corExp with nugget: corr = (1 - nugget) * exp(-d / range) for d > 0.")

# -- 3: Ovary ARMA(1,1) --------------------------------------------------------------------------------------------
run_nlme("lme_ovary_arma11",
  "lme(follicles ~ sin(2*pi*Time) + cos(2*pi*Time), data = Ovary, random = list(Mare = pdDiag(~ sin(2*pi*Time))), correlation = corARMA(form = ~ 1 | Mare, p = 1, q = 1))",
  "Ovary", "REML. Pinheiro & Bates' Ovary ARMA(1,1) model; ARMA over the observation index within Mare (rows are in time order).")

# -- 4, 5: gls ---------------------------------------------------------------------------------------------------
run_nlme("gls_orthodont_symm_varident",
  "gls(distance ~ Sex * I(age - 11), data = Orthodont, correlation = corSymm(form = ~ 1 | Subject), weights = varIdent(form = ~ 1 | age))",
  "Orthodont", "REML. Unstructured 4x4 within-Subject covariance: corSymm over the observation index (ages 8, 10, 12, 14 in row order) times varIdent SD ratios by age (age 8 the reference).")
run_nlme("gls_orthodont_cs",
  "gls(distance ~ age + Sex, data = Orthodont, correlation = corCompSymm(form = ~ 1 | Subject))", "Orthodont", "REML.")
run_nlme("gls_orthodont_cs_ml",
  "gls(distance ~ age + Sex, data = Orthodont, correlation = corCompSymm(form = ~ 1 | Subject), method = \"ML\")", "Orthodont", "ML.")

# -- 6-11: varFunc classes on Orthodont ----------------------------------------------------------------------------
run_nlme("lme_orthodont_varexp",
  "lme(distance ~ age + Sex, data = Orthodont, random = ~ 1 | Subject, weights = varExp(form = ~ age))",
  "Orthodont", "REML. Residual SD = sigma * exp(expon * age).")
run_nlme("lme_orthodont_varpower_age_by_sex",
  "lme(distance ~ age + Sex, data = Orthodont, random = ~ 1 | Subject, weights = varPower(form = ~ age | Sex))",
  "Orthodont", "REML. Residual SD = sigma * age^power[Sex], one power per Sex.")
run_nlme("lme_orthodont_varconstpower",
  "lme(distance ~ age + Sex, data = Orthodont, random = ~ 1 | Subject, weights = varConstPower(form = ~ age))",
  "Orthodont", "REML. Residual SD = sigma * (const + age^power).")
run_nlme("lme_orthodont_varfixed",
  "lme(distance ~ age + Sex, data = Orthodont, random = ~ 1 | Subject, weights = varFixed(~ age))",
  "Orthodont", "REML. Residual variance = sigma^2 * age (no variance parameters).")
run_nlme("lme_orthodont_varcomb",
  "lme(distance ~ age + Sex, data = Orthodont, random = ~ 1 | Subject, weights = varComb(varIdent(form = ~ 1 | Sex), varPower(form = ~ age)))",
  "Orthodont", "REML. Residual SD = sigma * ratio[Sex] * age^power (Male the varIdent reference). Natural names: A.<stratum> for varIdent, B.power for varPower.")
run_nlme("lme_orthodont_ar1_varident",
  "lme(distance ~ age + Sex, data = Orthodont, random = ~ 1 | Subject, correlation = corAR1(form = ~ 1 | Subject), weights = varIdent(form = ~ 1 | Sex), method = \"ML\")",
  "Orthodont", "ML. AR(1) over the observation index within Subject, residual SD by Sex (Male the reference).")

# -- 12: sleepstudy ----------------------------------------------------------------------------------------------
run_nlme("lme_sleepstudy_ar1_reml",
  "lme(Reaction ~ Days, data = sleepstudy, random = ~ Days | Subject, correlation = corAR1(form = ~ Days | Subject))",
  "sleepstudy", "REML. Correlated random intercept and slope plus AR(1) in Days (consecutive integers 0..9).")

# -- 13: pdMat classes -------------------------------------------------------------------------------------------
run_nlme("lme_orthodont_pddiag",
  "lme(distance ~ age + Sex, data = Orthodont, random = list(Subject = pdDiag(~ age)))", "Orthodont", "REML.")
run_nlme("lme_orthodont_pdident",
  "lme(distance ~ age + Sex, data = Orthodont, random = list(Subject = pdIdent(~ age)))", "Orthodont",
  "REML. pdIdent: intercept and age random effects independent with one common variance.")
run_nlme("lme_orthodont_pdcompsymm",
  "lme(distance ~ age + Sex, data = Orthodont, random = list(Subject = pdCompSymm(~ 0 + factor(age))))", "Orthodont",
  "REML. pdCompSymm over the four age indicators plus the residual: the residual variance and the pdCompSymm variance * (1 - corr) enter only as their sum, so they are not separately identified (see apVar / the warnings). The likelihood, fixef and the marginal covariance are well defined.")

if (!is.null(refs$lme_orthodont_pdcompsymm)) local({
  e <- refs$lme_orthodont_pdcompsymm
  s2 <- e$sigma^2; v <- e$re_sd[[1]]^2; r <- e$re_cor$values[[1]][2]
  refs$lme_orthodont_pdcompsymm$identified <<- list(
    marginal_variance = s2 + v, marginal_covariance = v * r, marginal_correlation = v * r / (s2 + v),
    note = paste("Only these combinations (and logLik, fixef, fixef_se) are identified: the marginal within-Subject",
                 "covariance is compound symmetric, as in gls_orthodont_cs (same logLik; its sigma^2 and Rho equal",
                 "marginal_variance and marginal_correlation). sigma, re_sd and re_cor individually are one arbitrary",
                 "split; df counts the redundant parameter (6 vs 5). nlme's apVar did not flag it."))
})

# -- 14: Exam tutorial models through lme --------------------------------------------------------------------------
exam_models <- c(
  null = "lme(normexam ~ 1, data = Exam, random = ~ 1 | school)",
  standLRT = "lme(normexam ~ standLRT, data = Exam, random = ~ 1 | school)",
  slope = "lme(normexam ~ standLRT, data = Exam, random = ~ standLRT | school)",
  schavg = "lme(normexam ~ standLRT + schavg, data = Exam, random = ~ standLRT | school)",
  crosslevel = "lme(normexam ~ standLRT * schavg, data = Exam, random = ~ standLRT | school)")
exam_lme4 <- c(null = "normexam ~ 1 + (1 | school)", standLRT = "normexam ~ standLRT + (1 | school)",
               slope = "normexam ~ standLRT + (standLRT | school)", schavg = "normexam ~ standLRT + schavg + (standLRT | school)",
               crosslevel = "normexam ~ standLRT * schavg + (standLRT | school)")
for (k in names(exam_models)) {
  run_nlme(paste0("lme_exam_", k), exam_models[[k]], "Exam",
           paste0("REML. The notebooks/01_lmm_tour.ipynb model '", exam_lme4[[k]], "' through nlme::lme."))
}

# -- 15: glmmTMB ---------------------------------------------------------------------------------------------------
run_tmb("tmb_orthodont_diag", "glmmTMB(distance ~ age + Sex + diag(age | Subject), data = Orthodont)", "Orthodont",
        "ML (glmmTMB's default). Independent random intercept and age slope.")
run_tmb("tmb_orthodont_homcs_nodisp",
        "glmmTMB(distance ~ age + Sex + homcs(0 + factor(age) | Subject), dispformula = ~0, data = Orthodont)", "Orthodont")
run_tmb("tmb_orthodont_toep_nodisp",
        "glmmTMB(distance ~ age + Sex + toep(0 + factor(age) | Subject), dispformula = ~0, data = Orthodont)", "Orthodont",
        "ML. With dispformula = ~0 the residual SD is fixed at a tiny value (sigma below), so the toep term is the whole within-Subject covariance (heterogeneous Toeplitz, SAS TOEPH).")
run_tmb("tmb_sleepstudy_us", "glmmTMB(Reaction ~ Days + us(Days | Subject), data = sleepstudy)", "sleepstudy",
        "ML (glmmTMB's default); same model as lme4's lmer(Reaction ~ Days + (Days | Subject), REML = FALSE).")

# -- 16: Indometh biexponential nlme -------------------------------------------------------------------------------
# With a plain data.frame, nlme's self-start goes through nlsList, which needs a groupedData ("'data' must be a
# "groupedData" object if 'formula' does not include groups"), so the CSV data is wrapped in groupedData() here;
# the fit is then identical to the one on datasets::Indometh (checked in _meta$groupedData_checks).
run_nlme("nlme_indometh_biexp_diag3",
  "nlme(conc ~ SSbiexp(time, A1, lrc1, A2, lrc2), data = groupedData(conc ~ time | Subject, data = Indometh), fixed = A1 + lrc1 + A2 + lrc2 ~ 1, random = pdDiag(A1 + lrc1 + A2 ~ 1), groups = ~ Subject)",
  "Indometh", c("ML (nlme's default), Lindstrom-Bates; numIter is nlme's outer (PNLS/LME) iteration count.",
                "Fixed-effect start values (`start`) are the ones nlme derived itself (from per-Subject nlsList fits of the self-starting model); random-effect starting values are nlme's default.",
                "The CSV data frame is wrapped in groupedData(conc ~ time | Subject, ...) because nlme's self-start (via nlsList) refuses a plain data frame; identical to the fit on datasets::Indometh."))
if (!is.null(refs$nlme_indometh_biexp_diag3)) {
  m_ind <- eval(parse(text = refs$nlme_indometh_biexp_diag3$model))
  refs$nlme_indometh_biexp_diag3$start <- named(m_ind$call$start$fixed)
  refs$nlme_indometh_biexp_diag3$mean_function <- "conc = A1 * exp(-exp(lrc1) * time) + A2 * exp(-exp(lrc2) * time)"
}

# -- notes on the skipped fits ------------------------------------------------------------------------------------
skip_note <- function(id, text) if (!is.null(skipped[[id]])) skipped[[id]]$notes <<- text
skip_note("lme_orthodont_varconstpower", paste(
  "Not converged with nlme's defaults. With lmeControl(msMaxIter = 500, maxIter = 500) nlminb runs off to the boundary",
  "(const -> 0, power -> -59, sigma -> 3e52; logLik -218.4726); with lmeControl(opt = 'optim') it stops at logLik -218.571",
  "(const 0.096, power -0.374) with a non-positive-definite apVar. The varConstPower parameters are not identified here:",
  "no reference value."))
skip_note("lme_sleepstudy_ar1_reml", paste(
  "Not converged with nlme's defaults (nlminb iteration limit); with larger msMaxIter / maxIter / niterEM nlminb reports",
  "singular convergence (7). lmeControl(opt = 'optim') stops at logLik -862.0935 (Phi 0.487, intercept-slope corr 0.897),",
  "but fits with Phi fixed nearby reach -862.0917 (Phi = 0.497), so that is not a maximum. The equivalent glmmTMB REML model",
  "(us(Days | Subject) + ar1(0 + factor(Days) | Subject), dispformula = ~0) also fails (false convergence, non-PD Hessian,",
  "intercept SD -> 0.03 with corr 0.99): the random intercept and the AR(1) level are nearly confounded and the REML",
  "optimum lies on (or near) the boundary of the random-effect covariance. No reference value."))
skip_note("tmb_orthodont_homcs_nodisp", paste(
  "glmmTMB 1.1.5 has no homcs() (its structures: diag, us, cs, ar1, ou, exp, gau, mat, toep, rr; cs is the heterogeneous",
  "one). The same marginal model (homogeneous compound symmetry over the 4 ages, ML) is gls_orthodont_cs_ml",
  "(logLik -217.4282425 there, as long as the fitted correlation is positive)."))

# -- checks: CSV data vs nlme's groupedData objects -----------------------------------------------------------------
ll_of <- function(call_text) as.numeric(logLik(eval(parse(text = call_text))))
gd_checks <- list(
  BodyWeight_car1 = c(csv = refs$lme_bodyweight_car1$logLik,
    groupedData = ll_of("lme(weight ~ Time * Diet, data = nlme::BodyWeight, random = ~ Time, correlation = corCAR1(form = ~ Time))")),
  Ovary_arma11 = c(csv = refs$lme_ovary_arma11$logLik,
    groupedData = ll_of("lme(follicles ~ sin(2*pi*Time) + cos(2*pi*Time), data = nlme::Ovary, random = pdDiag(~ sin(2*pi*Time)), correlation = corARMA(p = 1, q = 1))")),
  Orthodont_symm = c(csv = refs$gls_orthodont_symm_varident$logLik,
    groupedData = ll_of("gls(distance ~ Sex * I(age - 11), data = nlme::Orthodont, correlation = corSymm(form = ~ 1 | Subject), weights = varIdent(form = ~ 1 | age))")),
  Indometh_biexp = c(csv = refs$nlme_indometh_biexp_diag3$logLik,
    groupedData = ll_of("nlme(conc ~ SSbiexp(time, A1, lrc1, A2, lrc2), data = datasets::Indometh, fixed = A1 + lrc1 + A2 + lrc2 ~ 1, random = pdDiag(A1 + lrc1 + A2 ~ 1))")))
for (k in names(gd_checks)) stopifnot(abs(diff(gd_checks[[k]])) < 1e-8)
gd_checks <- lapply(gd_checks, as.list)

# -- write -------------------------------------------------------------------------------------------------------
meta <- list(R = R.version.string, nlme = as.character(packageVersion("nlme")),
             glmmTMB = as.character(packageVersion("glmmTMB")),
             data = list(
               BodyWeight = list(csv = "tests/reference/data/BodyWeight.csv",
                                 source = "nlme::BodyWeight written with write.csv(row.names = FALSE)",
                                 factors = list("Rat", "Diet"), ordered = list("Rat"), levels = bw_levels),
               others = "mixjax/datasets/data/<name>.csv with factors and level orders from columns.json"),
             groupedData_checks = gd_checks,
             fields = paste("fixef_se = sqrt(diag(vcov)); re_sd / re_cov / re_cor: random-effect covariance",
                            "(pdMatrix * sigma^2); reStruct_natural = coef(reStruct, unconstrained = FALSE), relative to sigma (SDs / sigma,",
                            "variances / sigma^2); corStruct / varStruct natural = coef(x, unconstrained = FALSE),",
                            "unconstrained = coef(x); apVar = 'ok' or nlme's message when its approximate covariance",
                            "of the variance parameters is not positive definite; r_fit_seconds = median elapsed of 3 fits"))
out <- c(refs, list(skipped = skipped, `_meta` = meta))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", na = "null", pretty = TRUE),
           file.path(out_dir, "extra_structures.json"))
cat("wrote", length(refs), "models;", length(skipped), "skipped\n")
