# Inference references that ../shared does not have: denominator degrees of freedom (lmerTest Satterthwaite,
# pbkrtest Kenward-Roger), emmeans marginal means and contrasts (with their multiplicity adjustments), lme4
# likelihood profiles and profile / Wald intervals, and R wall times for these operations.
# Run from the repository root: Rscript tests/reference/make_inference.R
# (writes tests/reference/extra_inference.json; takes a few minutes, mostly the Kenward-Roger fits on Exam).
#
# Layout: one top-level key per model (machines, exam, cbpp, sleepstudy_profile, sleepstudy_profile_ml) plus
# timings. Tables are lists of row objects with R's column names; row names (terms, parameters) are put in a
# `term` / `parameter` column. Non-finite numbers (NA, and the Inf df of asymptotic GLMM inference) are null.
suppressMessages({
  library(lme4); library(lmerTest); library(pbkrtest); library(emmeans); library(jsonlite)
})
data_dir <- "mixjax/datasets/data"
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

# -- helpers ---------------------------------------------------------------------------------------------------
warnings_seen <- list()
capture <- function(label, expr) {  # evaluate, keeping warnings and messages (recorded in the JSON)
  w <- character(0); m <- character(0)
  val <- withCallingHandlers(expr,
    warning = function(c) { w <<- c(w, conditionMessage(c)); invokeRestart("muffleWarning") },
    message = function(c) { m <<- c(m, trimws(conditionMessage(c))); invokeRestart("muffleMessage") })
  if (length(w) || length(m)) {
    warnings_seen[[label]] <<- list(warnings = as.list(unique(w)), messages = as.list(unique(m)))
    for (x in unique(c(w, m))) cat(sprintf("[%s] %s\n", label, x))
  }
  val
}
clean_df <- function(d, rowname_col = NULL) {  # data.frame -> plain data.frame; factors -> character; Inf -> NA
  d <- as.data.frame(d, stringsAsFactors = FALSE)
  if (!is.null(rowname_col)) d <- cbind(setNames(data.frame(rownames(d), stringsAsFactors = FALSE), rowname_col), d)
  rownames(d) <- NULL
  for (j in seq_along(d)) {
    if (is.factor(d[[j]])) d[[j]] <- as.character(d[[j]])
    if (is.numeric(d[[j]])) d[[j]][!is.finite(d[[j]])] <- NA
  }
  d
}
has_inf <- function(d) any(vapply(d, function(x) is.numeric(x) && any(is.infinite(x)), logical(1)))
emm_table <- function(s) {  # summary.emmGrid -> list(table, messages, estimability)
  d <- as.data.frame(s)
  out <- list(table = clean_df(d))
  if (has_inf(d)) out$note <- "df is Inf in R (asymptotic / z-based inference); written as null"
  mesg <- attr(s, "mesg")
  if (length(mesg)) out$messages <- as.list(mesg)
  out
}
contrast_table <- function(emm, method, adjust = NULL) {
  label <- paste0(method, "/", if (is.null(adjust)) "default" else adjust)
  ct <- capture(label, if (is.null(adjust)) contrast(emm, method = method) else contrast(emm, method = method, adjust = adjust))
  s <- summary(ct, infer = TRUE)
  out <- emm_table(s)
  out$method <- method
  out$adjust_requested <- if (is.null(adjust)) "default" else adjust
  out$adjust_used <- ct@misc$adjust  # what emmeans stored (see `messages` for the P-value and CI adjustments)
  out
}
fit_summary <- function(m) {
  vc <- as.data.frame(VarCorr(m))
  list(fixef = as.list(fixef(m)), fixef_se = as.list(sqrt(diag(as.matrix(vcov(m))))),
       fixef_dropped = as.list(setdiff(names(fixef(m, add.dropped = TRUE)), names(fixef(m)))),
       sigma = sigma(m), logLik = as.numeric(logLik(m)), theta = as.list(getME(m, "theta")),
       varcorr = clean_df(vc), method = if (isREML(m)) "REML" else if (isGLMM(m)) "Laplace" else "ML")
}
anova_table <- function(m, type, ddf) {
  a <- capture(sprintf("anova type %s %s", type, ddf), anova(m, type = type, ddf = ddf))
  list(type = type, ddf = ddf, heading = paste(attr(a, "heading"), collapse = ""), table = clean_df(a, "term"))
}
coef_table <- function(m, ddf) {
  s <- capture(paste("summary", ddf), summary(m, ddf = ddf))
  list(ddf = ddf, table = clean_df(coef(s), "term"))
}
profile_rows <- function(pr) {  # as.data.frame(profile) -> (.par, value of that parameter, .zeta)
  d <- as.data.frame(pr)
  par <- as.character(d$.par)
  value <- vapply(seq_len(nrow(d)), function(i) d[i, par[i]], numeric(1))
  list(parameters = as.list(unique(par)),
       rows = data.frame(.par = par, value = value, .zeta = d$.zeta, stringsAsFactors = FALSE),
       full = clean_df(d))
}
ci_table <- function(ci) clean_df(ci, "parameter")
elapsed <- function(expr_fn) {  # wall seconds; median of 3 when the first run is under 10 s
  t1 <- system.time(suppressWarnings(suppressMessages(expr_fn())))[["elapsed"]]
  if (t1 >= 10) return(list(seconds = t1, runs = list(t1)))
  ts <- c(t1, replicate(2, system.time(suppressWarnings(suppressMessages(expr_fn())))[["elapsed"]]))
  list(seconds = median(ts), runs = as.list(ts))
}

emm_options(pbkrtest.limit = 1e5, lmerTest.limit = 1e5)  # Exam has 4059 rows (> emmeans' default 3000 limits)

# -- 1. Machines -----------------------------------------------------------------------------------------------
machines_data <- read_data("Machines")
f_mach <- "score ~ Machine + (1 | Worker/Machine)"
m_mach <- capture("machines fit", lmerTest::lmer(as.formula(f_mach), machines_data, REML = TRUE))
emm_kr <- capture("machines emmeans KR", emmeans(m_mach, "Machine", lmer.df = "kenward-roger"))
emm_sat <- capture("machines emmeans Satterthwaite", emmeans(m_mach, "Machine", lmer.df = "satterthwaite"))
machine_contrasts <- list(
  pairwise_tukey = contrast_table(emm_kr, "pairwise", "tukey"),
  pairwise_holm = contrast_table(emm_kr, "pairwise", "holm"),
  pairwise_bonferroni = contrast_table(emm_kr, "pairwise", "bonferroni"),
  pairwise_none = contrast_table(emm_kr, "pairwise", "none"),
  trt.vs.ctrl_default = contrast_table(emm_kr, "trt.vs.ctrl"),
  trt.vs.ctrl_none = contrast_table(emm_kr, "trt.vs.ctrl", "none"),
  consec_none = contrast_table(emm_kr, "consec", "none"),
  consec_holm = contrast_table(emm_kr, "consec", "holm"))
machines <- c(list(dataset = "Machines", formula = f_mach, fitted_with = "lmerTest::lmer(REML = TRUE)",
                   note = "Worker is an ordered factor (levels 6,2,4,1,3,5); (1 | Worker/Machine) = (1 | Worker) + (1 | Worker:Machine). Contrasts are of the Kenward-Roger emmeans; with infer = TRUE emmeans adjusts CIs too (see each `messages`)."),
              fit_summary(m_mach),
              list(satterthwaite = coef_table(m_mach, "Satterthwaite"),
                   kenward_roger = coef_table(m_mach, "Kenward-Roger"),
                   anova = list(type3_satterthwaite = anova_table(m_mach, 3, "Satterthwaite"),
                                type3_kenward_roger = anova_table(m_mach, 3, "Kenward-Roger")),
                   emmeans = list(kenward_roger = emm_table(summary(emm_kr)),
                                  satterthwaite = emm_table(summary(emm_sat))),
                   contrasts = machine_contrasts))

# -- 2. Exam ---------------------------------------------------------------------------------------------------
exam_data <- read_data("Exam")
f_exam <- "normexam ~ sex * schgend + standLRT + (1 | school)"
m_exam <- capture("exam fit", lmerTest::lmer(as.formula(f_exam), exam_data, REML = TRUE))
emm_exam_by <- capture("exam emmeans sex|schgend", emmeans(m_exam, ~ sex | schgend, lmer.df = "kenward-roger"))
emm_exam_sex <- capture("exam emmeans sex", emmeans(m_exam, "sex", lmer.df = "kenward-roger"))
emm_exam_at <- capture("exam emmeans sex at standLRT=1",
                       emmeans(m_exam, "sex", at = list(standLRT = 1), lmer.df = "kenward-roger"))
exam_pairs <- capture("exam pairwise by schgend", contrast(emm_exam_by, method = "pairwise"))
exam_pairs_out <- emm_table(summary(exam_pairs, infer = TRUE))
exam_pairs_out$adjust_used <- exam_pairs@misc$adjust
exam <- c(list(dataset = "Exam", formula = f_exam, fitted_with = "lmerTest::lmer(REML = TRUE)",
               note = paste("sex and schgend are confounded (boys schools are all M, girls schools all F), so the",
                            "fixed-effect model matrix is rank deficient and lme4 drops 2 columns (`fixef_dropped`);",
                            "emmeans marks the empty sex x schgend cells non-estimable (NA -> null), which also makes",
                            "the `sex` means averaged over schgend non-estimable. Kenward-Roger via pbkrtest on all",
                            "4059 rows (emm_options pbkrtest.limit raised).")),
          fit_summary(m_exam),
          list(anova = list(type3_satterthwaite = anova_table(m_exam, 3, "Satterthwaite"),
                            type3_kenward_roger = anova_table(m_exam, 3, "Kenward-Roger"),
                            type1_satterthwaite = anova_table(m_exam, 1, "Satterthwaite"),
                            type1_kenward_roger = anova_table(m_exam, 1, "Kenward-Roger")),
               satterthwaite = coef_table(m_exam, "Satterthwaite"),
               kenward_roger = coef_table(m_exam, "Kenward-Roger"),
               emmeans = list(sex_by_schgend = emm_table(summary(emm_exam_by)),
                              sex = emm_table(summary(emm_exam_sex)),
                              sex_at_standLRT_1 = emm_table(summary(emm_exam_at)),
                              standLRT_mean = mean(exam_data$standLRT),
                              pairwise_sex_by_schgend = exam_pairs_out,
                              ddf = "kenward-roger")))
# The same column space without the aliased interaction columns: here `sex` means averaged over schgend are
# estimable (emmeans averages over all three schgend levels with equal weights, standLRT at its mean / at 1).
f_exam_add <- "normexam ~ sex + schgend + standLRT + (1 | school)"
m_exam_add <- capture("exam additive fit", lmerTest::lmer(as.formula(f_exam_add), exam_data, REML = TRUE))
exam$additive <- c(list(formula = f_exam_add, fitted_with = "lmerTest::lmer(REML = TRUE)",
                        note = paste("Not requested; added because the `sex` means of the interaction model are",
                                     "non-estimable. Same fit (same column space) as the interaction model.")),
                   fit_summary(m_exam_add),
                   list(emmeans = list(
                     sex = emm_table(summary(capture("exam additive emmeans sex",
                                                     emmeans(m_exam_add, "sex", lmer.df = "kenward-roger")))),
                     sex_at_standLRT_1 = emm_table(summary(capture("exam additive emmeans sex at 1",
                       emmeans(m_exam_add, "sex", at = list(standLRT = 1), lmer.df = "kenward-roger")))),
                     sex_by_schgend = emm_table(summary(capture("exam additive emmeans sex|schgend",
                       emmeans(m_exam_add, ~ sex | schgend, lmer.df = "kenward-roger")))),
                     ddf = "kenward-roger")))

# -- 3. cbpp ---------------------------------------------------------------------------------------------------
cbpp_data <- read_data("cbpp")
f_cbpp <- "cbind(incidence, size - incidence) ~ period + (1 | herd)"
m_cbpp <- capture("cbpp fit", glmer(as.formula(f_cbpp), cbpp_data, family = binomial))
emm_cbpp <- capture("cbpp emmeans", emmeans(m_cbpp, "period"))
cbpp_pairs <- capture("cbpp pairwise", contrast(emm_cbpp, method = "pairwise"))
cbpp_pairs_out <- emm_table(summary(cbpp_pairs, infer = TRUE))
cbpp_pairs_out$adjust_used <- cbpp_pairs@misc$adjust
pr_cbpp <- capture("cbpp profile", profile(m_cbpp))
ci_cbpp_prof <- capture("cbpp confint profile", confint(pr_cbpp))
ci_cbpp_prof_direct <- capture("cbpp confint(method=profile)", confint(m_cbpp, method = "profile"))
ci_cbpp_wald <- capture("cbpp confint Wald", confint(m_cbpp, method = "Wald"))
cbpp <- c(list(dataset = "cbpp", formula = f_cbpp, family = "binomial", link = "logit",
               note = paste("emmeans on a glmerMod is asymptotic: df = Inf in R, written as null.",
                            "confint_profile is confint(m, method = 'profile') (identical to confint(profile(m)));",
                            "Wald intervals for .sig01 are NA in lme4 (null).")),
          fit_summary(m_cbpp),
          list(emmeans = list(link = emm_table(summary(emm_cbpp)),
                              response = emm_table(summary(emm_cbpp, type = "response")),
                              pairwise_link = cbpp_pairs_out),
               confint_profile = ci_table(ci_cbpp_prof_direct),
               confint_profile_matches_profile_object = isTRUE(all.equal(ci_cbpp_prof, ci_cbpp_prof_direct)),
               profile = profile_rows(pr_cbpp),
               confint_wald = ci_table(ci_cbpp_wald)))

# -- 4. sleepstudy profiles --------------------------------------------------------------------------------------
sleep_data <- read_data("sleepstudy")
f_sleep <- "Reaction ~ Days + (Days | Subject)"
m_sleep <- capture("sleepstudy REML fit", lmer(as.formula(f_sleep), sleep_data, REML = TRUE))
m_sleep_ml <- capture("sleepstudy ML fit", lmer(as.formula(f_sleep), sleep_data, REML = FALSE))
pr_sleep <- capture("sleepstudy REML profile", profile(m_sleep))
pr_sleep_ml <- capture("sleepstudy ML profile", profile(m_sleep_ml))
ci_sleep <- capture("sleepstudy REML confint profile", confint(pr_sleep))
ci_sleep_ml <- capture("sleepstudy ML confint profile", confint(pr_sleep_ml))
sleepstudy_profile <- c(list(dataset = "sleepstudy", formula = f_sleep, fitted_with = "lme4::lmer(REML = TRUE)",
                             note = paste("lme4's profile() refits a REML model by ML (devfun2 calls refitML) and",
                                          "profiles the ML deviance, so these rows are those of the ML fit.",
                                          "Parameters: .sig01 = sd(Intercept), .sig02 = cor, .sig03 = sd(Days),",
                                          ".sigma = residual sd, then fixed effects. `value` is the profiled",
                                          "parameter's value on that row (= lme4's .focal column in `full`).",
                                          "Compared with the profile of the REML=FALSE fit (sleepstudy_profile_ml)",
                                          "the two agree to ~1e-4 in zeta for |zeta| < 3, but the extreme .sig01",
                                          "tail row (.sig01 ~ 1, .sig02 at the boundary 1) differs by ~0.06 in",
                                          "zeta: lme4's conditional optimisations there depend on the start.")),
                        fit_summary(m_sleep),
                        list(profile = profile_rows(pr_sleep), confint_profile = ci_table(ci_sleep)))
sleepstudy_profile_ml <- c(list(dataset = "sleepstudy", formula = f_sleep, fitted_with = "lme4::lmer(REML = FALSE)"),
                           fit_summary(m_sleep_ml),
                           list(profile = profile_rows(pr_sleep_ml), confint_profile = ci_table(ci_sleep_ml),
                                profile_identical_to_reml_fit_profile =
                                  isTRUE(all.equal(as.data.frame(pr_sleep), as.data.frame(pr_sleep_ml)))))

# -- 5. timings --------------------------------------------------------------------------------------------------
pen_data <- read_data("Penicillin")
f_pen <- "diameter ~ 1 + (1 | plate) + (1 | sample)"
m_pen <- lmer(as.formula(f_pen), pen_data, REML = TRUE)
m_sleep_lt <- lmerTest::lmer(as.formula(f_sleep), sleep_data, REML = TRUE)
timings <- list(
  machine = sprintf("%d cores (%s), %s", parallel::detectCores(), R.version$platform, R.version.string),
  method = "system.time()[['elapsed']]; median of 3 runs where the first is under 10 s (`runs` lists them)",
  models = list(sleepstudy = paste(f_sleep, "(lmerTest, REML)"), machines = paste(f_mach, "(lmerTest, REML)"),
                penicillin = paste(f_pen, "(lme4, REML)")),
  sleepstudy_summary_satterthwaite = elapsed(function() summary(m_sleep_lt, ddf = "Satterthwaite")),
  sleepstudy_summary_kenward_roger = elapsed(function() summary(m_sleep_lt, ddf = "Kenward-Roger")),
  sleepstudy_anova_satterthwaite = elapsed(function() anova(m_sleep_lt, ddf = "Satterthwaite")),
  sleepstudy_anova_kenward_roger = elapsed(function() anova(m_sleep_lt, ddf = "Kenward-Roger")),
  machines_summary_satterthwaite = elapsed(function() summary(m_mach, ddf = "Satterthwaite")),
  machines_summary_kenward_roger = elapsed(function() summary(m_mach, ddf = "Kenward-Roger")),
  machines_anova_satterthwaite = elapsed(function() anova(m_mach, ddf = "Satterthwaite")),
  machines_anova_kenward_roger = elapsed(function() anova(m_mach, ddf = "Kenward-Roger")),
  sleepstudy_confint_profile = elapsed(function() confint(m_sleep, method = "profile")),
  penicillin_confint_profile = elapsed(function() confint(m_pen, method = "profile")),
  machines_emmeans_kenward_roger = elapsed(function() summary(emmeans(m_mach, "Machine", lmer.df = "kenward-roger"))))

# -- write -------------------------------------------------------------------------------------------------------
engine <- sprintf("%s; lme4 %s; lmerTest %s; pbkrtest %s; emmeans %s; Matrix %s", R.version.string,
                  packageVersion("lme4"), packageVersion("lmerTest"), packageVersion("pbkrtest"),
                  packageVersion("emmeans"), packageVersion("Matrix"))
res <- list(id = "extra_inference", kind = "inference", engine = engine,
            versions = list(R = paste(R.version$major, R.version$minor, sep = "."),
                            lme4 = as.character(packageVersion("lme4")),
                            lmerTest = as.character(packageVersion("lmerTest")),
                            pbkrtest = as.character(packageVersion("pbkrtest")),
                            emmeans = as.character(packageVersion("emmeans")),
                            Matrix = as.character(packageVersion("Matrix"))),
            machines = machines, exam = exam, cbpp = cbpp,
            sleepstudy_profile = sleepstudy_profile, sleepstudy_profile_ml = sleepstudy_profile_ml,
            timings = timings, r_warnings_and_messages = warnings_seen)
write_json(res, "tests/reference/extra_inference.json", auto_unbox = TRUE, digits = NA, null = "null", na = "null",
           dataframe = "rows", pretty = TRUE)
cat("wrote tests/reference/extra_inference.json\n")
