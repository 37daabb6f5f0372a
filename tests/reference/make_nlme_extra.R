# Extra nlme references that ../shared does not have. Run from the repository root:
#   Rscript tests/reference/make_nlme_extra.R
# Writes tests/reference/extra_nlme_*.json, tests/reference/data/nested_growth.csv (a simulated nested study), and
# the R datasets the self-starting examples use into mixjax/datasets/data/ (ChickWeight, DNase, Indometh,
# Puromycin) with their factor levels in tests/reference/extra_datasets_columns.json (merged into
# mixjax/datasets/data/columns.json by hand).
suppressMessages({library(nlme); library(jsonlite)})
out <- function(x, id) write_json(c(list(id = id, engine = paste("nlme", packageVersion("nlme"))), x),
                                  file.path("tests/reference", paste0(id, ".json")), auto_unbox = TRUE, digits = NA)
fit_summary <- function(m) list(fixef = as.list(fixef(m)), fixef_se = as.list(sqrt(diag(vcov(m)))), sigma = m$sigma,
                                logLik = as.numeric(logLik(m)), nobs = m$dims$N,
                                sd = lapply(as.matrix(m$modelStruct$reStruct), function(v) sqrt(diag(v)) * m$sigma))

orange <- read.csv("mixjax/datasets/data/Orange.csv")
orange$Tree <- factor(orange$Tree)
m <- nlme(circumference ~ Asym / (1 + exp((xmid - age) / scal)), data = orange, fixed = Asym + xmid + scal ~ 1,
          random = Asym ~ 1 | Tree, start = c(Asym = 192, xmid = 728, scal = 353), method = "REML")
vc <- VarCorr(m)
out(list(dataset = "Orange", method = "REML", fixef = as.list(fixef(m)), fixef_se = as.list(sqrt(diag(vcov(m)))),
         sd_Asym = as.numeric(vc["Asym", "StdDev"]), sigma = m$sigma, logLik = as.numeric(logLik(m))),
    "extra_nlme_orange_reml")

# parameter-specific linear models (Pinheiro & Bates 6.3): Soybean with Year and Variety effects
soy <- read.csv("mixjax/datasets/data/Soybean.csv")
soy$Plot <- factor(soy$Plot); soy$Variety <- factor(soy$Variety, levels = c("F", "P"))
soy$Year <- factor(soy$Year, levels = c("1988", "1989", "1990"))
m <- nlme(weight ~ SSlogis(Time, Asym, xmid, scal), data = soy,
          fixed = list(Asym ~ Year + Variety, xmid ~ Year, scal ~ 1), random = pdDiag(Asym + xmid ~ 1),
          groups = ~ Plot, start = c(17, 0, 0, 0, 52, 0, 0, 7.5))
out(c(list(dataset = "Soybean", method = "ML"), fit_summary(m)), "extra_nlme_soybean_covariates")

# nested groups: a simulated growth study, trees within sites
set.seed(20261121)
ages <- c(118, 484, 664, 1004, 1231, 1372, 1582)
grid <- expand.grid(age = ages, Tree = factor(1:6), Site = factor(LETTERS[1:8]))
site_eff <- rnorm(8, 0, 25); tree_eff <- rnorm(48, 0, 15)
asym <- 190 + site_eff[as.integer(grid$Site)] + tree_eff[(as.integer(grid$Site) - 1) * 6 + as.integer(grid$Tree)]
grid$circumference <- round(asym / (1 + exp((720 - grid$age) / 350)) + rnorm(nrow(grid), 0, 6), 2)
nested <- grid[, c("Site", "Tree", "age", "circumference")]
write.csv(nested, "tests/reference/data/nested_growth.csv", row.names = FALSE)
m <- nlme(circumference ~ SSlogis(age, Asym, xmid, scal), data = nested, fixed = Asym + xmid + scal ~ 1,
          random = Asym ~ 1 | Site / Tree, start = c(Asym = 190, xmid = 720, scal = 350))
fits <- fitted(m, level = 0:2)
out(c(list(dataset = "nested_growth", method = "ML", fitted_head = lapply(as.data.frame(fits[1:5, ]), as.numeric)),
      fit_summary(m)), "extra_nlme_nested")

# getInitial of the eight self-starting models, on R's own examples
ChickWeight.1 <- subset(ChickWeight, Chick == 1); ChickWeight.6 <- subset(ChickWeight, Chick == 6)
Lob.329 <- subset(Loblolly, Seed == "329"); Theoph.1 <- subset(Theoph, Subject == 1)
Indo.1 <- subset(Indometh, Subject == 1); PurTrt <- subset(Puromycin, state == "treated")
DNase.1 <- subset(DNase, Run == 1)
cases <- list(
  list(weight ~ SSlogis(Time, Asym, xmid, scal), ChickWeight.1, "ChickWeight", "Chick == 1"),
  list(weight ~ SSfpl(Time, A, B, xmid, scal), ChickWeight.1, "ChickWeight", "Chick == 1"),
  list(height ~ SSasymp(age, Asym, R0, lrc), Lob.329, "Loblolly", "Seed == 329"),
  list(conc ~ SSfol(Dose, Time, lKe, lKa, lCl), Theoph.1, "Theoph", "Subject == 1"),
  list(conc ~ SSbiexp(time, A1, lrc1, A2, lrc2), Indo.1, "Indometh", "Subject == 1"),
  list(rate ~ SSmicmen(conc, Vm, K), PurTrt, "Puromycin", "state == treated"),
  list(density ~ SSgompertz(log(conc), Asym, b2, b3), DNase.1, "DNase", "Run == 1"),
  list(weight ~ SSweibull(Time, Asym, Drop, lrc, pwr), ChickWeight.6, "ChickWeight", "Chick == 6"))
out(list(cases = lapply(cases, function(c) list(model = paste(deparse(c[[1]]), collapse = ""), dataset = c[[3]],
                                                subset = c[[4]], start = as.list(getInitial(c[[1]], c[[2]]))))),
    "extra_selfstart_getinitial")

# the datasets themselves, as the package bundles them
levels_of <- list()
for (name in c("ChickWeight", "DNase", "Indometh", "Puromycin")) {
  d <- as.data.frame(get(name))
  write.csv(d, file.path("mixjax/datasets/data", paste0(name, ".csv")), row.names = FALSE)
  f <- names(d)[sapply(d, is.factor)]
  levels_of[[name]] <- list(factors = f, ordered = names(d)[sapply(d, is.ordered)],
                            levels = setNames(lapply(f, function(v) levels(d[[v]])), f))
}
write_json(levels_of, "tests/reference/extra_datasets_columns.json", auto_unbox = FALSE, pretty = TRUE)

# ChickWeight, pdDiag(Asym + xmid): from getInitial's start (chick 1) nlme stops after 3 iterations at a point
# with sd(xmid) ~ 0; restarted near mixjax's optimum it reaches a log-likelihood 225 higher
cw <- as.data.frame(ChickWeight)
chick <- function(start) nlme(weight ~ SSlogis(Time, Asym, xmid, scal), data = cw, fixed = Asym + xmid + scal ~ 1,
                              random = pdDiag(Asym + xmid ~ 1), groups = ~ Chick, start = start)
m1 <- chick(c(Asym = 937, xmid = 35, scal = 11)); m2 <- chick(c(Asym = 282, xmid = 11.4, scal = 6.7))
out(list(dataset = "ChickWeight", method = "ML", from_getinitial = c(list(numIter = m1$numIter), fit_summary(m1)),
         restarted = fit_summary(m2)), "extra_nlme_chickweight_diag")
