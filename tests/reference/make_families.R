# References for the GLMM families of mixjax.families (beta, tweedie, t, lognormal, truncated counts): glmmTMB 1.1.5
# fits with one random intercept, Laplace. glmmTMB 1.1.5 has no lognormal family (it came in 1.1.8): that one is
# glmmTMB's later lognormal likelihood (mean and SD on the response scale) written as a small TMB template, fitted
# the way glmmTMB fits (TMB's Laplace, nlminb, SEs from sdreport).
# Run from the repository root: Rscript tests/reference/make_families.R
#   writes tests/reference/extra_families.json and tests/reference/data/beta_sim.csv
suppressMessages({library(glmmTMB); library(TMB); library(jsonlite)})
columns <- fromJSON("mixjax/datasets/data/columns.json")
dat <- function(name, factors) {  # factors with R's level order, as the package's columns.json gives it
  d <- read.csv(file.path("mixjax/datasets/data", paste0(name, ".csv")))
  for (f in factors) d[[f]] <- factor(d[[f]], levels = columns[[name]]$levels[[f]])
  d
}
seconds <- function(fit) median(replicate(3, system.time(fit())[["elapsed"]]))  # median of 3 fits

# A seeded beta-distributed response: 25 groups x 12 rows, logit mu = -0.4 + 0.7 x + b, b ~ N(0, 0.6^2), phi = 12.
set.seed(14)
g <- rep(sprintf("g%02d", 1:25), each = 12)
x <- round(rnorm(length(g)), 4)
mu <- plogis(-0.4 + 0.7 * x + rnorm(25, sd = 0.6)[as.integer(factor(g))])
beta_sim <- data.frame(y = signif(rbeta(length(g), mu * 12, (1 - mu) * 12), 8), x = x, g = g)
write.csv(beta_sim, "tests/reference/data/beta_sim.csv", row.names = FALSE)
beta_sim <- read.csv("tests/reference/data/beta_sim.csv")  # exactly the numbers the tests read
beta_sim$g <- factor(beta_sim$g)

tmb_ref <- function(id, m, formula, dataset, family, link, time, subset = NULL) {
  sds <- lapply(VarCorr(m)$cond, function(v) as.list(attr(v, "stddev")))
  fp <- family_params(m)
  list(id = id, dataset = dataset, subset = subset, formula = formula, family = family, link = link,
       method = "Laplace", nobs = nobs(m), fixef = as.list(fixef(m)$cond),
       fixef_se = as.list(sqrt(diag(vcov(m)$cond))), sd = sds, theta = m$fit$par[names(m$fit$par) == "theta"],
       dispersion = sigma(m), betad = unname(m$fit$par["betad"]),
       family_params = if (length(fp)) as.list(fp) else NULL,
       psi = if (any(names(m$fit$par) == "psi")) unname(m$fit$par["psi"]) else NULL,
       logLik = as.numeric(logLik(m)), convergence = m$fit$convergence, pdHess = m$sdr$pdHess,
       engine = paste("glmmTMB", packageVersion("glmmTMB")), r_fit_seconds = time)
}
fit_tmb <- function(id, formula, data, family, dataset, fam_name, link, subset = NULL) {
  f <- as.formula(formula)
  m <- glmmTMB(f, data, family = family)
  tmb_ref(id, m, formula, dataset, fam_name, link, seconds(function() glmmTMB(f, data, family = family)), subset)
}

refs <- list()
sal <- dat("Salamanders", c("site", "mined", "spp"))
sleep <- dat("sleepstudy", c("Subject"))
pos <- sal[sal$count > 0, ]
f_sal <- "count ~ spp + mined + (1 | site)"

refs$beta <- fit_tmb("beta_sim", "y ~ x + (1 | g)", beta_sim, beta_family(), "tests/reference/data/beta_sim.csv",
                     "beta", "logit")
refs$tweedie <- fit_tmb("tweedie_salamanders", f_sal, sal, tweedie(), "Salamanders", "tweedie", "log")
orth <- dat("Orthodont", c("Subject", "Sex"))
refs$t <- fit_tmb("t_orthodont", "distance ~ age + (1 | Subject)", orth, t_family(), "Orthodont", "t", "identity")
refs$truncated_nbinom2 <- fit_tmb("truncated_nbinom2_salamanders", f_sal, pos, truncated_nbinom2(), "Salamanders",
                                  "truncated_nbinom2", "log", subset = "count > 0")
refs$truncated_poisson <- fit_tmb("truncated_poisson_salamanders", f_sal, pos, truncated_poisson(), "Salamanders",
                                  "truncated_poisson", "log", subset = "count > 0")
refs$truncated_genpois <- fit_tmb("truncated_genpois_salamanders", f_sal, pos, truncated_genpois(), "Salamanders",
                                  "truncated_genpois", "log", subset = "count > 0")
refs$truncated_nbinom1 <- fit_tmb("truncated_nbinom1_salamanders", f_sal, pos, truncated_nbinom1(), "Salamanders",
                                  "truncated_nbinom1", "log", subset = "count > 0")

# glmmTMB's lognormal (1.1.8 onwards; glmmTMB.cpp's lognormal_family case) with one random intercept, in TMB.
src <- file.path(tempdir(), "lognormal_glmm.cpp")
writeLines('#include <TMB.hpp>
template<class Type>
Type objective_function<Type>::operator() () {
  DATA_VECTOR(y);
  DATA_MATRIX(X);
  DATA_IVECTOR(group);
  PARAMETER_VECTOR(beta);
  PARAMETER(betad);
  PARAMETER(theta);
  PARAMETER_VECTOR(b);
  Type nll = -sum(dnorm(b, Type(0), exp(theta), true));
  vector<Type> eta = X * beta;
  for (int i = 0; i < y.size(); i++) {
    Type mu = exp(eta(i) + b(group(i)));
    Type s1 = logspace_add(Type(2) * (betad - log(mu)), Type(0));  // log-scale variance
    Type s2 = log(mu) - s1 / Type(2);                             // log-scale mean
    nll -= dnorm(log(y(i)), s2, sqrt(s1), true) - log(y(i));
  }
  return nll;
}', src)
invisible(capture.output(compile(src)))
dyn.load(dynlib(sub("\\.cpp$", "", src)))
X <- model.matrix(~ Days, sleep)
lognormal_fit <- function() {
  obj <- MakeADFun(list(y = sleep$Reaction, X = X, group = as.integer(sleep$Subject) - 1L),
                   list(beta = c(log(mean(sleep$Reaction)), 0), betad = log(sd(sleep$Reaction)), theta = 0,
                        b = rep(0, nlevels(sleep$Subject))),
                   random = "b", DLL = "lognormal_glmm", silent = TRUE)
  opt <- nlminb(obj$par, obj$fn, obj$gr)
  list(obj = obj, opt = opt, sdr = sdreport(obj))
}
ln <- lognormal_fit()
se <- sqrt(diag(ln$sdr$cov.fixed))
refs$lognormal <- list(id = "lognormal_sleepstudy", dataset = "sleepstudy", formula = "Reaction ~ Days + (1 | Subject)",
  family = "lognormal", link = "log", method = "Laplace", nobs = nrow(sleep),
  fixef = setNames(as.list(ln$opt$par[1:2]), colnames(X)), fixef_se = setNames(as.list(se[1:2]), colnames(X)),
  sd = list(Subject = list("(Intercept)" = exp(unname(ln$opt$par["theta"])))), theta = unname(ln$opt$par["theta"]),
  dispersion = exp(unname(ln$opt$par["betad"])), betad = unname(ln$opt$par["betad"]), logLik = -ln$opt$objective,
  convergence = ln$opt$convergence, pdHess = ln$sdr$pdHess,
  engine = paste("TMB", packageVersion("TMB"), "template of glmmTMB 1.1.8's lognormal family"),
  r_fit_seconds = seconds(lognormal_fit))

write_json(refs, "tests/reference/extra_families.json", auto_unbox = TRUE, digits = NA, null = "null", na = "null",
           pretty = TRUE)
